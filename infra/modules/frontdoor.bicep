// Azure Front Door Standard in front of the container app: immutable NiceGUI assets cached at the
// edge for a year, everything else (pages, the /_nicegui_ws socket, the API) passed through
// uncached (WebSockets need caching off on their route), and a WAF policy that rate-limits the
// two write endpoints per client IP and blocks the operator's blockedClientRanges. The app
// checks X-Azure-FDID (FRONT_DOOR_ID) and ACA's ingress admits only AzureFrontDoor.Backend, so
// the origin answers Front Door alone.
param name string
param tags object
@description('Host name of the container app (its ingress FQDN): origin and origin host header.')
param originHostName string
@description('Front Door WAF policy name: letters and digits only.')
param wafPolicyName string
@description('POST /score per client IP per minute before the WAF blocks (the app limits too).')
param scoreRatePerMinute int
@description('POST /game-start per client IP per minute before the WAF blocks.')
param gameStartRatePerMinute int
@description('IPv4 CIDRs the WAF refuses outright (RUNBOOK "One client is flooding us"); empty: no block rule.')
param blockedClientRanges array

// NiceGUI serves these under /_nicegui/<version>/ with content that never changes for a URL
// (dynamic_resources and per-client /_nicegui/client/ paths are left out on purpose).
var immutableAssetPath = '_nicegui/[0-9][^/]*/(static|libraries|components|resources|esm)/'

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
  properties: {
    originResponseTimeoutSeconds: 60
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: name
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'app'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    // /healthz is liveness (no storage call): Front Door's probes from many POPs stay cheap.
    healthProbeSettings: {
      probePath: '/healthz'
      probeRequestType: 'GET'
      probeProtocol: 'Https'
      probeIntervalInSeconds: 30
    }
    // One origin (ACA spreads over replicas); ACA's own sticky cookie passes through unchanged.
    sessionAffinityState: 'Disabled'
  }
}

resource origin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: originGroup
  name: 'aca'
  properties: {
    hostName: originHostName
    // ACA routes by Host: it must be the app's own FQDN.
    originHostHeader: originHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}

resource assetRules 'Microsoft.Cdn/profiles/ruleSets@2024-02-01' = {
  parent: profile
  name: 'immutableassets'
}

resource cacheAssets 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = {
  parent: assetRules
  name: 'cacheversionedassets'
  properties: {
    order: 1
    matchProcessingBehavior: 'Continue'
    conditions: [
      {
        name: 'UrlPath'
        parameters: {
          typeName: 'DeliveryRuleUrlPathMatchConditionParameters'
          operator: 'RegEx'
          negateCondition: false
          matchValues: [
            immutableAssetPath
          ]
          transforms: []
        }
      }
    ]
    actions: [
      {
        name: 'RouteConfigurationOverride'
        parameters: {
          typeName: 'DeliveryRuleRouteConfigurationOverrideActionParameters'
          cacheConfiguration: {
            cacheBehavior: 'OverrideAlways'
            cacheDuration: '365.00:00:00'
            queryStringCachingBehavior: 'UseQueryString'
            isCompressionEnabled: 'Enabled'
          }
        }
      }
    ]
  }
}

// Caching off on the route itself (no cacheConfiguration): only the rule above turns it on, for
// versioned asset paths. Anything else under /_nicegui/ goes to the origin every time.
resource assetRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'assets'
  dependsOn: [
    origin
    cacheAssets
  ]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    ruleSets: [
      {
        id: assetRules.id
      }
    ]
    patternsToMatch: [
      '/_nicegui/*'
    ]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}

// Pages, the API and /_nicegui_ws: never cached, so WebSocket upgrades pass to the origin.
resource appRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'app'
  dependsOn: [
    origin
  ]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    patternsToMatch: [
      '/*'
    ]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}

// SocketAddr, the TCP peer Front Door sees, not RemoteAddr: RemoteAddr is taken from an
// X-Forwarded-For the client may write itself, so a blocked client could name another address.
// Priority 5: evaluated before the rate limits. No rule at all when the list is empty, rather
// than an IPMatch with nothing to match.
var blockRule = [
  {
    name: 'blockedclients'
    priority: 5
    enabledState: 'Enabled'
    ruleType: 'MatchRule'
    matchConditions: [
      {
        matchVariable: 'SocketAddr'
        operator: 'IPMatch'
        negateCondition: false
        matchValue: blockedClientRanges
      }
    ]
    action: 'Block'
  }
]

var rateRules = [
  {
    name: 'scorepostrate'
    priority: 10
    enabledState: 'Enabled'
    ruleType: 'RateLimitRule'
    rateLimitDurationInMinutes: 1
    rateLimitThreshold: scoreRatePerMinute
    matchConditions: [
      {
        matchVariable: 'RequestMethod'
        operator: 'Equal'
        matchValue: [
          'POST'
        ]
      }
      {
        matchVariable: 'RequestUri'
        operator: 'RegEx'
        transforms: [
          'Lowercase'
        ]
        matchValue: [
          '^(https?://[^/]+)?/score/?(\\?.*)?$'
        ]
      }
    ]
    action: 'Block'
  }
  {
    name: 'gamestartpostrate'
    priority: 20
    enabledState: 'Enabled'
    ruleType: 'RateLimitRule'
    rateLimitDurationInMinutes: 1
    rateLimitThreshold: gameStartRatePerMinute
    matchConditions: [
      {
        matchVariable: 'RequestMethod'
        operator: 'Equal'
        matchValue: [
          'POST'
        ]
      }
      {
        matchVariable: 'RequestUri'
        operator: 'RegEx'
        transforms: [
          'Lowercase'
        ]
        matchValue: [
          '^(https?://[^/]+)?/game-start/?(\\?.*)?$'
        ]
      }
    ]
    action: 'Block'
  }
]

resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' = {
  name: wafPolicyName
  location: 'Global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
    }
    customRules: {
      rules: concat(empty(blockedClientRanges) ? [] : blockRule, rateRules)
    }
  }
}

resource security 'Microsoft.Cdn/profiles/securityPolicies@2024-02-01' = {
  parent: profile
  name: 'waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: waf.id
      }
      associations: [
        {
          domains: [
            {
              id: endpoint.id
            }
          ]
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

// The value Front Door puts in X-Azure-FDID on every request it forwards (the app's FRONT_DOOR_ID).
output frontDoorId string = profile.properties.frontDoorId
output endpointHostName string = endpoint.properties.hostName
output profileName string = profile.name
output endpointName string = endpoint.name
