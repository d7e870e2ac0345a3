// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3/etcdmain), built from Go modules at the version
// pinned in go.mod. It is test infrastructure: scripts/k8s-up runs it as the control plane's store and puts it
// into the image of the chart's etcd (tests/k8s/cluster.py), because Debian 12 ships etcd 3.4 and Kubernetes
// 1.34 wants 3.5 or later.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
