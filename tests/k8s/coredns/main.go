// Command coredns is CoreDNS (github.com/coredns/coredns) with only the plugins the test cluster's DNS uses:
// Service and pod names from the Kubernetes API, health and readiness endpoints, a cache. There is no forward
// plugin on purpose: the cluster built by scripts/k8s-up resolves its own names only and never sends a query
// off the machine. Test infrastructure for scripts/k8s-e2e, built from Go modules at the version in go.mod.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins in CoreDNS's own execution order (plugin.cfg); a Corefile may name only these.
var directives = []string{"ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
