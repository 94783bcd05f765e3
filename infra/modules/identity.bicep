// User-assigned identity: exists before the app, so the first revision can already pull from ACR
// (a system-assigned identity is created with the app and cannot pull on the first deployment).
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output name string = identity.name
