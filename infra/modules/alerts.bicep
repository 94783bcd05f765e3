// Alerts. Prometheus rules come from infra/alerts/prometheus-rules.json, generated from the
// observability rule file (infra/observability/prometheus/alerts.yml) by
// infra/scripts/render_alert_rules.py; tests/infra fails when the two drift.
param namePrefix string
param location string
param tags object
param monitorWorkspaceId string
param containerAppId string
@description('Action group resource id; empty means alerts fire without notifications.')
param actionGroupId string
param fivexxThreshold int = 5
param restartThreshold int = 2

var ruleFile = loadJsonContent('../alerts/prometheus-rules.json')
var promActions = empty(actionGroupId) ? [] : [
  {
    actionGroupId: actionGroupId
  }
]
var metricActions = empty(actionGroupId) ? [] : [
  {
    actionGroupId: actionGroupId
  }
]

resource ruleGroups 'Microsoft.AlertsManagement/prometheusRuleGroups@2023-03-01' = [for group in ruleFile.groups: {
  name: '${namePrefix}-${group.name}'
  location: location
  tags: tags
  properties: {
    enabled: true
    description: 'Drafty Bird alerts from infra/observability/prometheus/alerts.yml'
    scopes: [
      monitorWorkspaceId
    ]
    interval: group.interval
    // Recording rules take no actions; alerting rules notify the action group.
    rules: [for rule in group.rules: contains(rule, 'alert') ? union(rule, {
      actions: promActions
    }) : rule]
  }
}]

resource fivexx 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-requests-5xx'
  location: 'global'
  tags: tags
  properties: {
    description: 'Built-in ACA Requests metric: 5xx responses seen by the ingress (works even when the app cannot export metrics).'
    severity: 1
    enabled: true
    scopes: [
      containerAppId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Requests5xx'
          metricNamespace: 'Microsoft.App/containerApps'
          metricName: 'Requests'
          dimensions: [
            {
              name: 'statusCodeCategory'
              operator: 'Include'
              values: [
                '5xx'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: fivexxThreshold
          timeAggregation: 'Total'
        }
      ]
    }
    actions: metricActions
  }
}

resource restarts 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-restarts'
  location: 'global'
  tags: tags
  properties: {
    description: 'Built-in ACA RestartCount: the replica is crash-looping or failing its liveness probe.'
    severity: 2
    enabled: true
    scopes: [
      containerAppId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Restarts'
          metricNamespace: 'Microsoft.App/containerApps'
          metricName: 'RestartCount'
          operator: 'GreaterThan'
          threshold: restartThreshold
          timeAggregation: 'Total'
        }
      ]
    }
    actions: metricActions
  }
}

output ruleGroupNames array = [for (group, i) in ruleFile.groups: ruleGroups[i].name]
