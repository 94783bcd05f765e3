// Drafty Bird on Azure Container Apps (azd: `azd up`, one command on a fresh environment;
// pipeline: az deployment sub create).
targetScope = 'subscription'

// 29 = 32 (the container app name limit) - len('ca-'); every other derived name is shorter or
// uses the fixed-length token (tests/infra/test_azd_conventions.py checks each limit).
@minLength(1)
@maxLength(29)
@description('azd environment name; names every resource (e.g. drafty-staging). Lowercase letters, digits and hyphens, starting with a letter.')
param environmentName string

@minLength(1)
param location string

@allowed([
  'staging'
  'production'
])
param stage string

@description('Full image reference (ACR login server/drafty-bird:<sha>). Empty: keep the image the app runs (webAppExists), else a public placeholder until `azd deploy`.')
param imageName string = ''

@description('azd sets SERVICE_WEB_RESOURCE_EXISTS once the app exists (the azd container-app templates\' exists pattern).')
param webAppExists bool = false

@description('Revision suffix, the commit sha in the pipeline. Empty lets ACA pick one.')
param revisionSuffix string = ''

@description('Revision that keeps 100% traffic on re-provision; empty on the first provision.')
param trafficRevisionName string = ''

@description('False provisions only the platform (ACR, storage, monitoring) before the first image exists.')
param deployApp bool = true

@description('CHAOS_ENABLED for the app. Staging only; production keeps chaos off.')
param chaosEnabled bool = false

@secure()
@description('CHAOS_ADMIN_TOKEN (staging). Empty in production: no token, no /ops/chaos.')
param chaosAdminToken string = ''

@description('Unix time at which the chaos token secret expires.')
param chaosTokenExpiresAt int = 1893456000

@description('METRICS_PUBLIC: /metrics on the public ingress. Off: the collector sidecar scrapes the loopback-only METRICS_PORT.')
param publicMetrics bool = false

@description('DOCS_ENABLED: /docs, /redoc and /openapi.json on the public ingress.')
param apiDocs bool = false

@description('Daily ingestion cap of the Log Analytics workspace in GB: a log flood costs at most this much a day.')
param logDailyQuotaGb int = 1

@description('Resource id of the action group notified by every alert; empty for none.')
param actionGroupId string = ''

@minValue(1)
param fileShareQuotaGiB int = 5

// Not deployer(): checkov's pinned pycep-parser 0.5.1 cannot parse it.
@description('Object id of the identity that queries the Azure Monitor workspace (chaos drill, release gate): the pipeline service principal (pipeline.py), or the azd user (AZURE_PRINCIPAL_ID). It gets Monitoring Data Reader there; empty assigns nothing.')
param principalId string = ''

@description('Type of principalId; empty lets Azure look it up.')
@allowed([
  ''
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string = ''

@description('Storage profile: sqlite (one replica, SMB share, label blue-green) or postgres (Flexible Server in a VNet, 2..maxReplicas sticky replicas, Single revision mode). docs/DECISIONS.md.')
@allowed([
  'sqlite'
  'postgres'
])
param database string = 'sqlite'

@description('postgres profile: Flexible Server compute (HA needs GeneralPurpose or MemoryOptimized).')
param postgresSkuName string = 'Standard_B1ms'
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'
@minValue(32)
param postgresStorageGiB int = 32
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'
param postgresGeoRedundantBackup bool = false

@minValue(2)
@description('postgres profile: replicas the scale rule may reach. Front Door admits 3,000 WebSockets per profile (docs/DECISIONS.md).')
param maxReplicas int = 4

// docs/DECISIONS.md 13: no ACA scale rule counts the WebSockets of an HTTP-ingress app, so the
// rule scales on CPU, what a replica with many pages runs out of (DECISIONS 11).
@minValue(10)
@maxValue(95)
@description('postgres profile: average CPU utilization (% of the replica\'s requested CPU) above which the scale rule adds a replica.')
param scaleOutCpuPercent int = 60

@description('Run-token key rotation (RUNBOOK): until this UTC time (e.g. 2026-12-01T12:00:00Z) the key before the rotation, Key Vault secret run-token-secret-previous, still verifies runs. Empty: no previous key.')
param runTokenPreviousUntil string = ''

@description('Put Azure Front Door Standard (cache, WAF) in front and lock the origin to it.')
param frontDoorEnabled bool = false

@description('IPv4 CIDRs of the AzureFrontDoor.Backend service tag (az network list-service-tags); ACA ingress admits only these when Front Door is on.')
param frontDoorBackendRanges array = []

@description('IPv4 CIDRs (e.g. 203.0.113.7/32) refused before they reach the app (RUNBOOK "One client is flooding us"). Front Door on: a WAF block rule on the address Front Door sees; off: ACA ingress Deny rules. Empty: nothing blocked.')
param blockedClientRanges array = []

@minValue(1)
param wafScoreRatePerMinute int = 120
@minValue(1)
param wafGameStartRatePerMinute int = 120

// 0.159.0 ships the azureauth extension with `scopes` (infra/otel/otelcol-contrib-manifest.yaml).
param collectorImage string = 'otel/opentelemetry-collector-contrib:0.159.0'

var tags = {
  'azd-env-name': environmentName
  app: 'drafty-bird'
  stage: stage
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var shareName = 'drafty-data'
var storageEntryName = 'drafty-data'
var isPostgres = database == 'postgres'
// The app's name, as the app and web-image modules spell it (the origin host for Front Door).
var appName = 'ca-${environmentName}'
var postgresDatabaseName = 'drafty'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${environmentName}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    namePrefix: environmentName
    location: location
    tags: tags
    metricsPublisherPrincipalId: identity.outputs.principalId
    logDailyQuotaGb: logDailyQuotaGb
    dataReaderPrincipalId: principalId
    dataReaderPrincipalType: principalType
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: 'cr${token}'
    location: location
    tags: tags
    pullPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    shareName: shareName
    shareQuotaGiB: fileShareQuotaGiB
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    readerPrincipalId: identity.outputs.principalId
    writerPrincipalId: principalId
    writerPrincipalType: principalType
    // Purge protection keeps a deleted vault's name for the retention window: production only,
    // so staging survives `azd down --purge` + `azd up` (docs/DECISIONS.md).
    purgeProtection: stage == 'production'
    chaosAdminToken: chaosAdminToken
    secretExpiresAt: chaosTokenExpiresAt
  }
}

module network 'modules/network.bicep' = if (isPostgres) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${environmentName}'
    location: location
    tags: tags
    postgresDnsZoneName: 'psql-${token}.private.postgres.database.azure.com'
  }
}

module postgres 'modules/postgres.bicep' = if (isPostgres) {
  name: 'postgres'
  scope: rg
  params: {
    name: 'psql-${token}'
    location: location
    tags: tags
    delegatedSubnetId: network.outputs.postgresSubnetId
    privateDnsZoneId: network.outputs.postgresDnsZoneId
    appPrincipalId: identity.outputs.principalId
    appPrincipalName: identity.outputs.name
    databaseName: postgresDatabaseName
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageGiB
    backupRetentionDays: postgresBackupRetentionDays
    highAvailability: postgresHighAvailability
    geoRedundantBackup: postgresGeoRedundantBackup
  }
}

module environment 'modules/environment.bicep' = {
  name: 'environment'
  scope: rg
  params: {
    name: 'cae-${environmentName}'
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    storageAccountName: storage.outputs.accountName
    shareName: storage.outputs.shareName
    storageEntryName: storageEntryName
    infrastructureSubnetId: isPostgres ? network.outputs.acaSubnetId : ''
  }
}

// The origin is the app's FQDN, known from the environment before the app exists, so the app
// can be given the profile's id (FRONT_DOOR_ID) without a dependency cycle.
module frontDoor 'modules/frontdoor.bicep' = if (frontDoorEnabled) {
  name: 'frontdoor'
  scope: rg
  params: {
    name: 'afd-${environmentName}'
    tags: tags
    originHostName: '${appName}.${environment.outputs.defaultDomain}'
    wafPolicyName: 'waf${token}'
    scoreRatePerMinute: wafScoreRatePerMinute
    gameStartRatePerMinute: wafGameStartRatePerMinute
    blockedClientRanges: blockedClientRanges
  }
}

module webImage 'modules/fetch-container-image.bicep' = {
  name: 'web-image'
  scope: rg
  params: {
    exists: webAppExists
    name: 'ca-${environmentName}'
  }
}

module app 'modules/app.bicep' = if (deployApp) {
  name: 'app'
  scope: rg
  params: {
    name: 'ca-${environmentName}'
    location: location
    tags: tags
    stage: stage
    environmentId: environment.outputs.id
    storageEntryName: environment.outputs.storageEntryName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    registryLoginServer: registry.outputs.loginServer
    // web is containers[0] (tests/infra checks it): the image it already runs, or '' for the placeholder.
    imageName: empty(imageName) ? (webImage.outputs.?containers[?0].?image ?? '') : imageName
    collectorImage: collectorImage
    revisionSuffix: revisionSuffix
    trafficRevisionName: trafficRevisionName
    appInsightsName: monitoring.outputs.appInsightsName
    remoteWriteUrl: monitoring.outputs.remoteWriteUrl
    chaosEnabled: chaosEnabled
    publicMetrics: publicMetrics
    apiDocs: apiDocs
    chaosTokenSecretUri: empty(chaosAdminToken) ? '' : '${keyVault.outputs.vaultUri}secrets/chaos-admin-token'
    // RUN_TOKEN_SECRET: Bicep never sets its value (that would rotate the key on every deploy and
    // void every run in flight); infra/scripts/pipeline.py creates it once when missing.
    runTokenSecretUri: '${keyVault.outputs.vaultUri}secrets/run-token-secret'
    // The previous key exists only during a rotation window; the operator copies it (RUNBOOK).
    runTokenSecretPreviousUri: empty(runTokenPreviousUntil) ? '' : '${keyVault.outputs.vaultUri}secrets/run-token-secret-previous'
    runTokenPreviousUntil: runTokenPreviousUntil
    database: database
    identityName: identity.outputs.name
    postgresFqdn: isPostgres ? postgres.outputs.fqdn : ''
    postgresDatabaseName: postgresDatabaseName
    maxReplicas: maxReplicas
    scaleOutCpuPercent: scaleOutCpuPercent
    frontDoorId: frontDoorEnabled ? frontDoor.outputs.frontDoorId : ''
    frontDoorBackendRanges: frontDoorEnabled ? frontDoorBackendRanges : []
    // app.bicep turns these into Deny rules only without Front Door (its WAF blocks them otherwise).
    blockedClientRanges: blockedClientRanges
  }
}

module alerts 'modules/alerts.bicep' = if (deployApp) {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: environmentName
    location: location
    tags: tags
    monitorWorkspaceId: monitoring.outputs.monitorWorkspaceId
    containerAppId: app.outputs.id
    actionGroupId: actionGroupId
  }
}

// azd reads these into the environment; the pipeline reads them with `az deployment sub show`.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = environment.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_DOMAIN string = environment.outputs.defaultDomain
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_PROMETHEUS_QUERY_ENDPOINT string = monitoring.outputs.prometheusQueryEndpoint
output SERVICE_WEB_NAME string = deployApp ? app.outputs.name : ''
output SERVICE_WEB_DATABASE_PROFILE string = database
output AZURE_POSTGRES_SERVER_NAME string = isPostgres ? postgres.outputs.name : ''
output AZURE_FRONT_DOOR_PROFILE_NAME string = frontDoorEnabled ? frontDoor.outputs.profileName : ''
output AZURE_FRONT_DOOR_ENDPOINT_NAME string = frontDoorEnabled ? frontDoor.outputs.endpointName : ''
output SERVICE_WEB_PUBLIC_URI string = frontDoorEnabled ? 'https://${frontDoor.outputs.endpointHostName}' : (deployApp ? 'https://${app.outputs.fqdn}' : '')
output SERVICE_WEB_URI string = deployApp ? 'https://${app.outputs.fqdn}' : ''
