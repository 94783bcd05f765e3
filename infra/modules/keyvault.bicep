// Secrets for the app. The container app reads them by Key Vault reference with its identity.
param name string
param location string
param tags object
param readerPrincipalId string
@description('The deploying principal (pipeline or azd user): it creates run-token-secret once (infra/scripts/pipeline.py); empty assigns nothing.')
param writerPrincipalId string
@description('Type of writerPrincipalId; empty lets Azure look it up.')
param writerPrincipalType string
@description('Production only: purge protection cannot be undone and holds the vault name for the retention window after a delete.')
param purgeProtection bool
@secure()
@description('Empty in production: then no chaos token exists and /ops/chaos is not served.')
param chaosAdminToken string
@description('Unix time after which the chaos token expires (rotate with each staging deploy).')
param secretExpiresAt int

// Key Vault Secrets User (built-in role)
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
// Key Vault Secrets Officer (built-in role): data-plane read/write of secrets, which Contributor lacks.
var secretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the ACA environment has no VNet; Key Vault references are resolved over the public endpoint with RBAC.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public network access is needed without a VNet.
  // checkov:skip=CKV_AZURE_110: purge protection is on in production only, so staging can be torn down and re-provisioned (tests/infra checks the production branch).
  // checkov:skip=CKV_AZURE_42: recoverable means soft delete (always on) plus purge protection (production only), see CKV_AZURE_110.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // null omits the property: false is refused once it was ever true, and omitted means off.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource chaosToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(chaosAdminToken)) {
  // checkov:skip=CKV_AZURE_41: checkov cannot see into conditional resources; attributes.exp is set below (tests/infra checks it).
  // checkov:skip=CKV_AZURE_114: checkov cannot see into conditional resources; contentType is set below (tests/infra checks it).
  parent: vault
  name: 'chaos-admin-token'
  properties: {
    value: chaosAdminToken
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiresAt
    }
  }
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
  }
}

resource writer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(writerPrincipalId)) {
  name: guid(vault.id, writerPrincipalId, secretsOfficerRoleId)
  scope: vault
  properties: {
    principalId: writerPrincipalId
    principalType: empty(writerPrincipalType) ? null : writerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRoleId)
  }
}

output name string = vault.name
output vaultUri string = vault.properties.vaultUri
