// Command threatstop is CoreDNS built with the threatfeed, threatstop, threatfirewall and threatlog plugins
// and the stock plugins an operator needs beside them (package chain). Only those plugins are compiled
// in, which keeps the binary and its resident memory small compared with a stock CoreDNS that carries
// every plugin.
package main

import (
	"os"
	"runtime/debug"

	"github.com/coredns/coredns/coremain"

	_ "github.com/threatstop/threatstop/cmd/threatstop/chain"
)

// gcPercent is the GOGC the server runs with unless GOGC or GOMEMLIMIT is set. Almost all of its heap is
// the snapshot's long-lived, pointer-free arrays, which a collection marks at little cost, while the
// default (100) would let the process grow to twice that heap before collecting: half the headroom keeps
// the resident memory near 1.5 times the data for a few percent of one core.
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(gcPercent)
	}
	coremain.Run()
}
