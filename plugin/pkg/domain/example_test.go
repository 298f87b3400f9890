package domain_test

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// Every name a feed lists or a query asks about goes through Normalize first,
// so that lookups compare one spelling.
func ExampleNormalize() {
	for _, in := range []string{"WWW.Example.COM.", "Bücher.Example", "bad..name", "10.0.0.1"} {
		out, ok := domain.Normalize(in)
		fmt.Printf("%q -> %q %v\n", in, out, ok)
	}
	// Output:
	// "WWW.Example.COM." -> "www.example.com" true
	// "Bücher.Example" -> "xn--bcher-kva.example" true
	// "bad..name" -> "" false
	// "10.0.0.1" -> "" false
}

// Names read off the wire are bytes, not text: NormalizeASCII refuses
// anything outside ASCII instead of converting it.
func ExampleNormalizeASCII() {
	fmt.Println(domain.NormalizeASCII("Mail.Example.ORG"))
	fmt.Println(domain.NormalizeASCII("bücher.example"))
	// Output:
	// mail.example.org true
	//  false
}

func ExampleValid() {
	fmt.Println(domain.Valid("a-b_c.example"))
	fmt.Println(domain.Valid("-bad.example"))
	fmt.Println(domain.Valid("1.2.3.4"))
	// Output:
	// true
	// false
	// false
}

// A feed line with a single label is never taken as a whole top-level domain.
func ExampleListable() {
	fmt.Println(domain.Listable("evil.example"))
	fmt.Println(domain.Listable("localhost"))
	// Output:
	// true
	// false
}

// Walking up with Parent is how a lookup finds a listed parent domain.
func ExampleParent() {
	name := "a.b.example.com"
	for {
		fmt.Println(name)
		p, ok := domain.Parent(name)
		if !ok {
			break
		}
		name = p
	}
	// Output:
	// a.b.example.com
	// b.example.com
	// example.com
	// com
}
