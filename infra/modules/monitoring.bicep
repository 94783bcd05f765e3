// Logs, traces and Prometheus metrics. The collector sidecar remote-writes through the DCE/DCR pair.
param namePrefix string
param location string
param tags object
@description('Principal allowed to publish metrics (the app identity).')
param metricsPublisherPrincipalId string
@description('Principal that queries the workspace (pipeline service principal or azd user); empty for none.')
param dataReaderPrincipalId string
@description('Empty lets Azure look the principal type up.')
param dataReaderPrincipalType string
@description('Daily ingestion cap in GB: past it the workspace drops data until the next UTC day, so a log flood costs a bounded amount.')
@minValue(1)
param logDailyQuotaGb int

// Monitoring Metrics Publisher (built-in role)
var metricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
// Monitoring Data Reader (built-in role): PromQL queries against the workspace's query endpoint.
var dataReaderRoleId = 'b0d8363b-8ddd-447d-831f-62ca05bff136'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${namePrefix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    workspaceCapping: {
      dailyQuotaGb: logDailyQuotaGb
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${namePrefix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource monitorWorkspace 'Microsoft.Monitor/accounts@2023-04-03' = {
  name: 'amw-${namePrefix}'
  location: location
  tags: tags
}

resource dce 'Microsoft.Insights/dataCollectionEndpoints@2022-06-01' = {
  name: 'dce-${namePrefix}'
  location: location
  tags: tags
  properties: {
    networkAcls: {
      // The ACA environment has no VNet, so the sidecar reaches the DCE over its public endpoint.
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2022-06-01' = {
  name: 'dcr-${namePrefix}'
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: dce.id
    dataSources: {
      prometheusForwarder: [
        {
          name: 'PrometheusDataSource'
          streams: [
            'Microsoft-PrometheusMetrics'
          ]
          labelIncludeFilter: {}
        }
      ]
    }
    destinations: {
      monitoringAccounts: [
        {
          accountResourceId: monitorWorkspace.id
          name: 'MonitoringAccount1'
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Microsoft-PrometheusMetrics'
        ]
        destinations: [
          'MonitoringAccount1'
        ]
      }
    ]
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dcr.id, metricsPublisherPrincipalId, metricsPublisherRoleId)
  scope: dcr
  properties: {
    principalId: metricsPublisherPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
  }
}

resource dataReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dataReaderPrincipalId)) {
  name: guid(monitorWorkspace.id, dataReaderPrincipalId, dataReaderRoleId)
  scope: monitorWorkspace
  properties: {
    principalId: dataReaderPrincipalId
    principalType: empty(dataReaderPrincipalType) ? null : dataReaderPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReaderRoleId)
  }
}

output logAnalyticsName string = logs.name
output appInsightsName string = appInsights.name
output monitorWorkspaceId string = monitorWorkspace.id
output prometheusQueryEndpoint string = monitorWorkspace.properties.metrics.prometheusQueryEndpoint
output remoteWriteUrl string = '${dce.properties.metricsIngestion.endpoint}/dataCollectionRules/${dcr.properties.immutableId}/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24'
