// postgres profile: Azure Database for PostgreSQL Flexible Server, private access only, Microsoft
// Entra sign-in only (no password exists), the app's user-assigned identity as its Entra principal.
param name string
param location string
param tags object
param delegatedSubnetId string
param privateDnsZoneId string
@description('Object (principal) id of the app\'s user-assigned identity.')
param appPrincipalId string
@description('Name of that identity: the PostgreSQL role the app signs in as (DATABASE_URL user).')
param appPrincipalName string
param databaseName string
param skuName string
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string
param storageSizeGB int
@minValue(7)
@maxValue(35)
param backupRetentionDays int
@description('ZoneRedundant needs GeneralPurpose or MemoryOptimized; Burstable allows Disabled only.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailability string
param geoRedundantBackup bool

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    // Entra only: the app's token is its password (drafty_bird/data/entra.py); nobody holds a password.
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: subscription().tenantId
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
    highAvailability: {
      mode: highAvailability
    }
  }
}

// The identity is an Entra administrator: Alembic migrations run in the app at start-up and
// need DDL rights, and a non-admin Entra role can only be made with SQL (pgaadauth_create_principal)
// after the server exists (docs/DECISIONS.md).
resource appAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: appPrincipalId
  properties: {
    principalType: 'ServicePrincipal'
    principalName: appPrincipalName
    tenantId: subscription().tenantId
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

output fqdn string = server.properties.fullyQualifiedDomainName
output name string = server.name
output databaseName string = database.name
