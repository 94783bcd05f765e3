// Image registry. Admin user disabled: pulls use the app identity's AcrPull role.
param name string
param location string
param tags object
param pullPrincipalId string

// AcrPull (built-in role)
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: public endpoint kept; the ACA environment has no VNet and pulls with an AcrPull identity.
  // checkov:skip=CKV_AZURE_163: vulnerability scanning is a Defender plan, enabled per subscription, not per template.
  // checkov:skip=CKV_AZURE_166: quarantine needs Premium and an external scanner; not used.
  // checkov:skip=CKV_AZURE_233: zone redundancy needs Premium; the app itself runs one replica.
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    // Anonymous pull is off by default; 2023-07-01 has no anonymousPullEnabled property (BCP037).
    adminUserEnabled: false
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, pullPrincipalId, acrPullRoleId)
  scope: registry
  properties: {
    principalId: pullPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
