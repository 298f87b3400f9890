package rpzname_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/rpzname"
)

func Example() {
	fmt.Println(rpzname.Encode(netip.MustParsePrefix("192.0.2.0/24")) + "." + rpzname.Label)
	fmt.Println(rpzname.Encode(netip.MustParsePrefix("2001:db8::1/128")))

	p, err := rpzname.Decode("48.zz.db8.2001")
	fmt.Println(p, err)

	// 192.0.2.1/24: a bit set past the length. BIND loads no trigger for it, and Decode refuses it.
	_, err = rpzname.Decode("24.1.2.0.192")
	fmt.Println(err)
	// Output:
	// 24.0.2.0.192.rpz-ip
	// 128.1.zz.db8.2001
	// 2001:db8::/48 <nil>
	// rpz-ip trigger "24.1.2.0.192" (192.0.2.1/24): host bits set past the prefix length
}
