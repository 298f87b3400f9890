// Command threatstop is CoreDNS built with the threatfeed and threatstop plugins and the stock plugins an
// operator needs beside them (package chain). Only those plugins are compiled in, which keeps the binary
// and its resident memory small compared with a stock CoreDNS that carries every plugin.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/threatstop/threatstop/cmd/threatstop/chain"
)

func main() {
	coremain.Run()
}
