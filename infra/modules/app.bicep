// The Drafty Bird container app plus an OTel collector sidecar that ships metrics and traces.
// sqlite profile: one replica (SQLite on SMB), Multiple revision mode for label blue-green.
// postgres profile: minReplicas 2..maxReplicas on PostgreSQL, Single revision mode with sticky
// sessions (a NiceGUI page and its socket must reach the same replica; ACA is sticky only in Single).
param name string
param location string
param tags object
@allowed([
  'staging'
  'production'
])
param stage string
param environmentId string
param storageEntryName string
param identityId string
param identityClientId string
param registryLoginServer string
@description('Empty on the first `azd up` (no image pushed yet): the web container runs a public placeholder until `azd deploy`.')
param imageName string
param collectorImage string
@description('Empty lets ACA generate one; the pipeline passes the commit sha.')
param revisionSuffix string
@description('Empty on first provision (latest revision gets 100%). Otherwise the revision that keeps 100%, so re-provisioning never moves traffic.')
param trafficRevisionName string
param appInsightsName string
param remoteWriteUrl string
param chaosEnabled bool
@description('METRICS_PUBLIC: /metrics on the public ingress (the sidecar scrapes metricsPort either way).')
param publicMetrics bool
@description('DOCS_ENABLED: /docs, /redoc and /openapi.json on the public ingress.')
param apiDocs bool
@description('Key Vault secret URI of CHAOS_ADMIN_TOKEN; empty means no token (production).')
param chaosTokenSecretUri string
@description('Key Vault secret URI of RUN_TOKEN_SECRET: one key for every replica and revision (pipeline.py creates it once).')
param runTokenSecretUri string
@description('Key Vault secret URI of RUN_TOKEN_SECRET_PREVIOUS, the key before a rotation (RUNBOOK); empty: no previous key.')
param runTokenSecretPreviousUri string
@description('RUN_TOKEN_PREVIOUS_UNTIL: the UTC time after which the previous key verifies nothing.')
param runTokenPreviousUntil string
@allowed([
  'sqlite'
  'postgres'
])
param database string
@description('postgres profile: the identity name (the PostgreSQL role) and the server FQDN; empty for sqlite.')
param identityName string
param postgresFqdn string
param postgresDatabaseName string
@minValue(2)
@description('postgres profile: most replicas the scale rule may reach.')
param maxReplicas int
@minValue(10)
@maxValue(95)
@description('postgres profile: average CPU utilization (% of requested CPU) above which a replica is added.')
param scaleOutCpuPercent int
@description('Front Door profile id (X-Azure-FDID); empty: no Front Door, the origin is open.')
param frontDoorId string
@description('AzureFrontDoor.Backend IPv4 ranges (service tag); the only peers ACA ingress admits when Front Door is on.')
param frontDoorBackendRanges array
@description('IPv4 CIDRs refused at ACA ingress when no Front Door is in front; with Front Door its WAF refuses them instead.')
param blockedClientRanges array

var appPort = 8080
// Loopback-only Prometheus listener in the web container; the sidecar shares the replica's
// localhost (infra/otel/collector.yaml scrapes localhost:9464), the ingress never reaches it.
var metricsPort = 9464
var dataDir = '/data'
// uid/gid match the Dockerfile's USER 1000:1000. nobrl keeps SQLite byte-range locks local:
// without it SMB answers "database is locked" (see docs/DECISIONS.md).
var dataMountOptions = 'nobrl,uid=1000,gid=1000,dir_mode=0750,file_mode=0640'
var hasChaosToken = !empty(chaosTokenSecretUri)
// The azd container-app templates' first-provision image. Only the image differs: `azd deploy`
// swaps just the image, so port and probes must already be the app's. The placeholder does not
// listen on 8080, so its revision stays unhealthy until the first deploy, as in the templates.
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var usePlaceholder = empty(imageName)
var isPostgres = database == 'postgres'
var behindFrontDoor = !empty(frontDoorId)
// ACA's ingress (Envoy) connects from the environment's private range and appends the player's
// address to X-Forwarded-For; Front Door appends it one hop earlier, so trust both to reach it.
var privateRanges = [
  '10.0.0.0/8'
  '172.16.0.0/12'
  '192.168.0.0/16'
  '100.64.0.0/10'
]
var trustedProxies = join(concat(privateRanges, behindFrontDoor ? frontDoorBackendRanges : []), ',')

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var baseSecrets = [
  {
    name: 'appinsights-connection-string'
    value: appInsights.properties.ConnectionString
  }
  {
    // Shared by every replica and revision, so a run issued by one is verified by another.
    name: 'run-token-secret'
    keyVaultUrl: runTokenSecretUri
    identity: identityId
  }
]
// Rotation window: the previous key still verifies runs issued before the rotation. The app
// refuses a previous key without its end (Settings), so both come together or not at all.
var hasPreviousRunTokenKey = !empty(runTokenSecretPreviousUri)
var previousKeySecrets = hasPreviousRunTokenKey ? [
  {
    name: 'run-token-secret-previous'
    keyVaultUrl: runTokenSecretPreviousUri
    identity: identityId
  }
] : []
var chaosSecrets = hasChaosToken ? [
  {
    name: 'chaos-admin-token'
    keyVaultUrl: chaosTokenSecretUri
    identity: identityId
  }
] : []

var baseEnv = [
  {
    name: 'HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PORT'
    value: string(appPort)
  }
  {
    name: 'STORAGE_FALLBACK'
    value: 'fail'
  }
  {
    // Rate limits are per player only if every proxy hop in front of the app is trusted.
    name: 'TRUSTED_PROXIES'
    value: trustedProxies
  }
  {
    name: 'LOG_LEVEL'
    value: 'info'
  }
  {
    name: 'OTEL_SERVICE_NAME'
    value: 'drafty-bird'
  }
  {
    // The sidecar listens on the replica's shared localhost.
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT'
    value: 'http://localhost:4318'
  }
  {
    name: 'OTEL_EXPORTER_OTLP_PROTOCOL'
    value: 'http/protobuf'
  }
  {
    // Keep 1 API request in 10 (or what an incoming traceparent decided). The SDK's default
    // keeps every one, and a kept request costs 140-300 us of CPU, by machine (docs/PERFORMANCE.md).
    name: 'OTEL_TRACES_SAMPLER'
    value: 'parentbased_traceidratio'
  }
  {
    name: 'OTEL_TRACES_SAMPLER_ARG'
    value: '0.1'
  }
  {
    name: 'OTEL_RESOURCE_ATTRIBUTES'
    value: 'deployment.environment=${stage}'
  }
  {
    name: 'CHAOS_ENABLED'
    value: chaosEnabled ? 'true' : 'false'
  }
  {
    name: 'METRICS_PORT'
    value: string(metricsPort)
  }
  {
    name: 'METRICS_PUBLIC'
    value: publicMetrics ? 'true' : 'false'
  }
  {
    name: 'DOCS_ENABLED'
    value: apiDocs ? 'true' : 'false'
  }
  {
    name: 'RUN_TOKEN_SECRET'
    // checkov:skip=CKV_SECRET_6: secretRef is the name of an ACA secret, not a value (values are set in configuration.secrets)
    secretRef: 'run-token-secret'
  }
]
var sqliteEnv = [
  {
    name: 'SCORE_DB_PATH'
    value: '${dataDir}/db.sqlite'
  }
]
// No password anywhere: the identity's Entra token signs in (DATABASE_AUTH=entra, AZURE_CLIENT_ID).
var postgresEnv = [
  {
    name: 'DATABASE_URL'
    value: 'postgresql+psycopg://${identityName}@${postgresFqdn}/${postgresDatabaseName}?sslmode=require'
  }
  {
    name: 'DATABASE_AUTH'
    value: 'entra'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
]
var frontDoorEnv = behindFrontDoor ? [
  {
    name: 'FRONT_DOOR_ID'
    value: frontDoorId
  }
] : []
var previousKeyEnv = hasPreviousRunTokenKey ? [
  {
    name: 'RUN_TOKEN_SECRET_PREVIOUS'
    // checkov:skip=CKV_SECRET_6: secretRef is the name of an ACA secret, not a value (values are set in configuration.secrets)
    secretRef: 'run-token-secret-previous'
  }
  {
    name: 'RUN_TOKEN_PREVIOUS_UNTIL'
    value: runTokenPreviousUntil
  }
] : []
var chaosEnv = hasChaosToken ? [
  {
    name: 'CHAOS_ADMIN_TOKEN'
    // checkov:skip=CKV_SECRET_6: secretRef is the name of an ACA secret, not a value (values are set in configuration.secrets)
    secretRef: 'chaos-admin-token'
  }
] : []

var appProbes = [
  {
    type: 'Startup'
    httpGet: {
      path: '/healthz'
      port: appPort
    }
    initialDelaySeconds: 2
    periodSeconds: 3
    timeoutSeconds: 2
    failureThreshold: 20
  }
  {
    type: 'Liveness'
    httpGet: {
      path: '/healthz'
      port: appPort
    }
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  }
  {
    type: 'Readiness'
    httpGet: {
      path: '/readyz'
      port: appPort
    }
    periodSeconds: 5
    timeoutSeconds: 3
    failureThreshold: 3
  }

]

// ACA ingress admits only these peers when Front Door is on (all rules Allow: the rest is denied).
var frontDoorAllow = [for (cidr, i) in frontDoorBackendRanges: {
  name: 'afd-${i}'
  description: 'AzureFrontDoor.Backend'
  action: 'Allow'
  ipAddressRange: cidr
}]
// Without Front Door, blocked clients are Deny rules (the rest is admitted). Never both kinds:
// ACA refuses a mix of Allow and Deny, and behind Front Door the origin sees only Front Door's
// addresses, so there the WAF blocks them (frontdoor.bicep).
var clientDeny = [for (cidr, i) in blockedClientRanges: {
  name: 'block-${i}'
  description: 'blockedClientRanges'
  action: 'Deny'
  ipAddressRange: cidr
}]

var dataMounts = [
  {
    volumeName: 'data'
    mountPath: dataDir
  }
]
var dataVolumes = [
  {
    name: 'data'
    storageType: 'AzureFile'
    storageName: storageEntryName
    mountOptions: dataMountOptions
  }
]

var sqliteWebResources = {
  cpu: json('0.5')
  memory: '1Gi'
}
// DECISIONS 11: a replica holding 800 pages needs its own vCPU (plus the sidecar: 1.25 / 2.5Gi, a valid pair).
var postgresWebResources = {
  cpu: json('1.0')
  memory: '2Gi'
}

var sqliteScale = {
  // One writer while the DB is SQLite on SMB (nobrl: locks do not cross hosts).
  minReplicas: 1
  maxReplicas: 1
}
// Two replicas at least: one can restart or be replaced while the other serves. Scaled on CPU:
// ACA's TCP rule counts connections only with TCP ingress, and its HTTP rule counts requests
// started per second, so neither sees open pages (WebSockets); CPU is what many busy pages
// exhaust (docs/DECISIONS.md 11 and 13). MAX_PAGES stays the hard cap per replica.
var postgresScale = {
  minReplicas: 2
  maxReplicas: maxReplicas
  rules: [
    {
      name: 'cpu'
      custom: {
        type: 'cpu'
        metadata: {
          type: 'Utilization'
          value: string(scaleOutCpuPercent)
        }
      }
    }
  ]
}

var firstTraffic = [
  {
    latestRevision: true
    weight: 100
  }
]
// Multiple mode only: re-provisioning keeps traffic on the blue revision.
var pinTraffic = (!isPostgres) && (!empty(trafficRevisionName))
var pinnedTraffic = [
  {
    revisionName: trafficRevisionName
    label: 'blue'
    weight: 100
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'web'
  })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      // Labels and traffic weights exist only in Multiple mode (blue-green in azure-pipelines.yml).
      // Labels and traffic weights exist only in Multiple mode; stickiness only in Single.
      activeRevisionsMode: isPostgres ? 'Single' : 'Multiple'
      maxInactiveRevisions: 10
      ingress: {
        external: true
        targetPort: appPort
        transport: 'auto'
        allowInsecure: false
        // Single mode: the latest ready revision takes all traffic (no labels, no weights).
        traffic: pinTraffic ? pinnedTraffic : firstTraffic
        stickySessions: isPostgres ? {
          affinity: 'sticky'
        } : null
        ipSecurityRestrictions: behindFrontDoor ? frontDoorAllow : clientDeny
      }
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
      secrets: concat(baseSecrets, previousKeySecrets, chaosSecrets)
    }
    template: {
      revisionSuffix: revisionSuffix
      containers: [
        {
          // First container on purpose: azd deploy and fetch-container-image.bicep read containers[0].
          name: 'web'
          image: usePlaceholder ? placeholderImage : imageName
          resources: isPostgres ? postgresWebResources : sqliteWebResources
          env: concat(baseEnv, previousKeyEnv, isPostgres ? postgresEnv : sqliteEnv, frontDoorEnv, chaosEnv)
          probes: appProbes
          volumeMounts: isPostgres ? [] : dataMounts
        }
        {
          name: 'otel-collector'
          image: collectorImage
          // Config travels as an env var (env: provider) so no extra volume is needed.
          args: [
            '--config=env:OTELCOL_CONFIG'
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          env: [
            {
              name: 'OTELCOL_CONFIG'
              value: loadTextContent('../otel/collector.yaml')
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identityClientId
            }
            {
              name: 'PROMETHEUS_REMOTE_WRITE_URL'
              value: remoteWriteUrl
            }
            {
              name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
              // checkov:skip=CKV_SECRET_6: secretRef is the name of an ACA secret, not a value (values are set in configuration.secrets)
              secretRef: 'appinsights-connection-string'
            }
          ]
        }
      ]
      scale: isPostgres ? postgresScale : sqliteScale
      volumes: isPostgres ? [] : dataVolumes
    }
  }
}

output id string = app.id
output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output latestRevisionName string = app.properties.latestRevisionName
