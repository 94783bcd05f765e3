// The azd "exists" pattern (Azure/azure-dev scaffold modules/fetch-container-image.bicep, used by
// the container-app templates): on re-provision, read the image the app already runs so that
// `azd provision` never swaps it back to the placeholder. azd sets SERVICE_WEB_RESOURCE_EXISTS.
param exists bool
param name string

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output containers array = exists ? existingApp.properties.template.containers : []
