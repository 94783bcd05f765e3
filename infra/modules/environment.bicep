// ACA environment (Consumption) with the Azure Files storage entry for /data; in the postgres
// profile it joins the VNet that reaches the database privately.
param name string
param location string
param tags object
param logAnalyticsName string
param storageAccountName string
param shareName string
@description('Name of the environment storage entry that the app volume references.')
param storageEntryName string
@description('Infrastructure subnet (postgres profile); empty: no VNet (sqlite profile). Fixed at creation.')
param infrastructureSubnetId string = ''

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource env 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: empty(infrastructureSubnetId) ? null : {
      infrastructureSubnetId: infrastructureSubnetId
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource storage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: env
  name: storageEntryName
  properties: {
    azureFile: {
      accountName: account.name
      // SMB mounts in ACA need the account key; it stays inside this deployment (never an output).
      accountKey: account.listKeys().keys[0].value
      shareName: shareName
      accessMode: 'ReadWrite'
    }
  }
}

output id string = env.id
output name string = env.name
output defaultDomain string = env.properties.defaultDomain
output storageEntryName string = storage.name
