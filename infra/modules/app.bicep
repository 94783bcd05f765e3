// The Drafty Bird container app: one replica (SQLite on SMB), Multiple revision mode for blue-green,
// plus an OTel collector sidecar that ships metrics and traces.
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

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var baseSecrets = [
  {
    name: 'appinsights-connection-string'
    value: appInsights.properties.ConnectionString
  }
]
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
    name: 'SCORE_DB_PATH'
    value: '${dataDir}/db.sqlite'
  }
  {
    name: 'STORAGE_FALLBACK'
    value: 'fail'
  }
  {
    // ACA's ingress (Envoy) connects from the environment's private range and appends the
    // player's address to X-Forwarded-For; trust it so rate limits are per player.
    name: 'TRUSTED_PROXIES'
    value: '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10'
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
]
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

var firstTraffic = [
  {
    latestRevision: true
    weight: 100
  }
]
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
      activeRevisionsMode: 'Multiple'
      maxInactiveRevisions: 10
      ingress: {
        external: true
        targetPort: appPort
        transport: 'auto'
        allowInsecure: false
        traffic: empty(trafficRevisionName) ? firstTraffic : pinnedTraffic
      }
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
      secrets: concat(baseSecrets, chaosSecrets)
    }
    template: {
      revisionSuffix: revisionSuffix
      containers: [
        {
          // First container on purpose: azd deploy and fetch-container-image.bicep read containers[0].
          name: 'web'
          image: usePlaceholder ? placeholderImage : imageName
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          env: concat(baseEnv, chaosEnv)
          probes: appProbes
          volumeMounts: [
            {
              volumeName: 'data'
              mountPath: dataDir
            }
          ]
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
      scale: {
        // One writer while the DB is SQLite on SMB (nobrl: locks do not cross hosts).
        minReplicas: 1
        maxReplicas: 1
      }
      volumes: [
        {
          name: 'data'
          storageType: 'AzureFile'
          storageName: storageEntryName
          mountOptions: dataMountOptions
        }
      ]
    }
  }
}

output id string = app.id
output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output latestRevisionName string = app.properties.latestRevisionName
