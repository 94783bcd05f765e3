// postgres profile only: the VNet the ACA environment joins, a subnet delegated to PostgreSQL
// Flexible Server (private access: no public endpoint), and the private DNS zone that resolves it.
param name string
param location string
param tags object
@description('Private DNS zone for the server; VNet-integrated Flexible Server needs a name ending in .postgres.database.azure.com.')
param postgresDnsZoneName string

// 10.40/16 sits inside TRUSTED_PROXIES' 10.0.0.0/8 (ACA's Envoy connects from the environment's subnet).
var addressSpace = '10.40.0.0/16'
// Workload-profile environments need at least a /27; /23 leaves room for many replicas.
var acaSubnetPrefix = '10.40.0.0/23'
var postgresSubnetPrefix = '10.40.2.0/28'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressSpace
      ]
    }
    subnets: [
      {
        name: 'aca'
        properties: {
          addressPrefix: acaSubnetPrefix
          delegations: [
            {
              name: 'aca'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

resource dnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: postgresDnsZoneName
  location: 'global'
  tags: tags
}

resource dnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: dnsZone
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

output acaSubnetId string = '${vnet.id}/subnets/aca'
output postgresSubnetId string = '${vnet.id}/subnets/postgres'
output postgresDnsZoneId string = dnsZone.id
