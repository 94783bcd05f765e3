// The SQLite leaderboard lives on an Azure Files (SMB) share mounted at /data.
// ACA's Azure Files mounts only support the account key (no identity-based mounts), so shared-key
// access stays enabled. The key is read with listKeys() inside environment.bicep and is never an output.
param name string
param location string
param tags object
param shareName string
@minValue(1)
param shareQuotaGiB int

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: default action Allow for the same reason as CKV_AZURE_59 (no VNet to allow-list).
  // checkov:skip=CKV_AZURE_59: public network access is required: the ACA environment has no VNet or private endpoint, so a closed account makes the mount fail.
  // checkov:skip=CKV_AZURE_206: LRS is enough for a game leaderboard; the runbook's backup drill covers loss.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource files 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: files
  name: shareName
  properties: {
    shareQuota: shareQuotaGiB
    enabledProtocols: 'SMB'
  }
}

output accountName string = account.name
output shareName string = share.name
