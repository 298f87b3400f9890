package qname_test

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/pkg/qname"
)

// Decode reads what a DNSxL query asks about, the labels in front of the
// policy label: a reversed IPv4 address, a reversed IPv6 address in nibbles,
// or a domain name.
func ExampleDecode() {
	for _, s := range []string{
		"2.0.0.127",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
		"WWW.Bad.Example",
		"1.2.3.256",
		"bad..example",
	} {
		q := qname.Decode(s)
		switch q.Kind {
		case qname.Addr:
			fmt.Println("address", q.Addr)
		case qname.Name:
			fmt.Println("name", q.Name)
		default:
			fmt.Println("invalid", s)
		}
	}
	// Output:
	// address 127.0.0.2
	// address 2001:db8::1
	// name www.bad.example
	// invalid 1.2.3.256
	// invalid bad..example
}
