// Package transfer fetches a policy's RPZ zone from threatstop servers: AXFR the first time, then IXFR
// (RFC 1995) from the serial the device holds, every message signed with the customer's TSIG key
// (RFC 8945; github.com/miekg/dns verifies each answer), the servers tried in order until one succeeds.
//
// It owns the IXFR state machine: an answer is taken only whole and consistent (the closing SOA there,
// every SOA of the zone's name, each difference starting at the serial the previous one ended with, every
// deleted record present and every added one absent), and otherwise rejected without touching the zone
// the device holds. A new version is built on a copy.
//
// Cost: the records of one transfer are decoded as they arrive (zone.FromRR, about 0.7 µs per record);
// an IXFR copies the zone held (one map insert per record) and applies the difference to the copy.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
	"github.com/threatstop/threatstop/plugin/pkg/timeouts"
)

// Key is a TSIG key.
type Key struct {
	Name      string // fully qualified, lowercase
	Algorithm string // fully qualified, e.g. hmac-sha256.
	Secret    string // base64
}

// Client fetches one zone.
type Client struct {
	Servers []string // host:port, in order of preference
	Zone    string
	Key     Key
	Timeout time.Duration // dial and each read; default 10s
}

// Kind says what a fetch brought.
type Kind string

// Kinds of results.
const (
	Unchanged Kind = "unchanged" // the server is at the serial the device holds
	Full      Kind = "axfr"      // a whole zone (AXFR, or an IXFR answered with the whole zone)
	Delta     Kind = "ixfr"      // an incremental difference, applied
)

// Result is a successful fetch.
type Result struct {
	Kind    Kind
	Server  string
	Zone    *zone.Zone // the new version; the held one when Unchanged
	Deleted int        // records deleted and added by an incremental transfer
	Added   int
}

// Error is a failed fetch from one server; Inconsistent marks an answer that arrived but was wrong (the
// next attempt should be an AXFR).
type Error struct {
	Server       string
	Op           string
	Err          error
	Inconsistent bool
}

func (e *Error) Error() string { return fmt.Sprintf("%s from %s: %v", e.Op, e.Server, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Fetch brings the zone up to date from the first server that answers well: an IXFR from held (nil, or
// with axfr set: an AXFR). The errors of the servers that failed are joined in the error when none
// succeeded, and returned beside a result when a later server succeeded.
func (c *Client) Fetch(ctx context.Context, held *zone.Zone, axfr bool) (Result, error) {
	var errs []error
	for _, srv := range c.Servers {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var r Result
		var err error
		if held == nil || axfr {
			r, err = c.fetchAXFR(ctx, srv)
		} else {
			r, err = c.fetchIXFR(ctx, srv, held)
		}
		if err == nil {
			return r, errors.Join(errs...)
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return Result{}, errors.New("no server configured")
	}
	return Result{}, errors.Join(errs...)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return timeouts.DeviceTransfer
}

// stream sends q to srv and returns every answer record of the transfer, in order. It fails unless the
// transfer completed (miekg stops at the closing SOA; a connection that ends before is an error).
func (c *Client) stream(ctx context.Context, srv string, q *dns.Msg, each func(dns.RR) error) error {
	d := net.Dialer{Timeout: c.timeout()}
	conn, err := d.DialContext(ctx, "tcp", srv)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	t := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, ReadTimeout: c.timeout(), WriteTimeout: c.timeout()}
	if c.Key.Name != "" {
		t.TsigSecret = map[string]string{c.Key.Name: c.Key.Secret}
		q.SetTsig(c.Key.Name, c.Key.Algorithm, 300, time.Now().Unix())
	}
	ch, err := t.In(q, srv)
	if err != nil {
		return err
	}
	var first error
	for env := range ch {
		if first != nil {
			continue // drain
		}
		if env.Error != nil {
			first = explain(env.Error)
			continue
		}
		for _, rr := range env.RR {
			if err := each(rr); err != nil {
				first = err
				break
			}
		}
	}
	return first
}

// explain names the rcode miekg reports as a number, and TSIG failures.
func explain(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("transfer ended without the closing SOA: the server closed the connection (%w)", err)
	}
	var n int
	if _, e := fmt.Sscanf(err.Error(), "dns: bad xfr rcode: %d", &n); e == nil {
		return fmt.Errorf("server answered %s", dns.RcodeToString[n])
	}
	if errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrNoSig) || errors.Is(err, dns.ErrTime) || errors.Is(err, dns.ErrSecret) {
		return fmt.Errorf("TSIG: %w (wrong key or secret, or clock skew)", err)
	}
	return err
}

// soaOf checks that rr is the zone's SOA.
func soaOf(rr dns.RR, origin string) (*dns.SOA, bool) {
	s, ok := rr.(*dns.SOA)
	if !ok || !strings.EqualFold(s.Hdr.Name, origin) {
		return nil, false
	}
	return s, true
}

func (c *Client) fetchAXFR(ctx context.Context, srv string) (Result, error) {
	origin := strings.ToLower(dns.Fqdn(c.Zone))
	q := new(dns.Msg)
	q.SetAxfr(origin)
	var z *zone.Zone
	closed := false
	n := 0
	err := c.stream(ctx, srv, q, func(rr dns.RR) error {
		n++
		if closed {
			return errors.New("records after the closing SOA")
		}
		if z == nil {
			soa, ok := soaOf(rr, origin)
			if !ok {
				return fmt.Errorf("first record is not the SOA of %s: %s", origin, rr)
			}
			z = zone.New(origin, soa.Serial)
			return nil
		}
		if rr.Header().Rrtype == dns.TypeSOA {
			soa, ok := soaOf(rr, origin)
			if !ok || soa.Serial != z.Serial {
				return fmt.Errorf("closing SOA %s does not match the opening serial %d", rr, z.Serial)
			}
			closed = true
			return nil
		}
		r, err := zone.FromRR(rr, origin)
		if err != nil {
			return err
		}
		z.Records[r] = struct{}{}
		return nil
	})
	if err == nil && !closed {
		err = fmt.Errorf("transfer ended after %d records without the closing SOA", n)
	}
	if err != nil {
		return Result{}, &Error{Server: srv, Op: "AXFR of " + origin, Err: err, Inconsistent: z != nil}
	}
	return Result{Kind: Full, Server: srv, Zone: z}, nil
}

// ixfrState is where the IXFR state machine stands.
type ixfrState int

const (
	ixStart     ixfrState = iota // nothing read
	ixFirst                      // the server's SOA read
	ixFull                       // an AXFR-style answer: records until the closing SOA
	ixDeleting                   // an old SOA read: deleted records follow
	ixAdding                     // a new SOA read: added records follow
	ixDone                       // the closing SOA read
	ixUnchanged                  // the server's serial is not newer than ours: nothing else matters
)

type op struct {
	add bool
	r   zone.Record
}

func (c *Client) fetchIXFR(ctx context.Context, srv string, held *zone.Zone) (Result, error) {
	origin := held.Origin
	q := new(dns.Msg)
	q.SetIxfr(origin, held.Serial, "ns.invalid.", "hostmaster.invalid.")
	var (
		st      = ixStart
		server  uint32 // the server's serial, of the first SOA
		from    uint32 // the serial the difference being read starts from
		to      uint32 // and ends at
		ops     []op
		full    *zone.Zone
		records int
	)
	err := c.stream(ctx, srv, q, func(rr dns.RR) error {
		records++
		soa, isSOA := soaOf(rr, origin)
		if !isSOA && rr.Header().Rrtype == dns.TypeSOA {
			return fmt.Errorf("SOA of another zone: %s", rr)
		}
		switch st {
		case ixStart:
			if !isSOA {
				return fmt.Errorf("first record is not the SOA of %s: %s", origin, rr)
			}
			server = soa.Serial
			st = ixFirst
			if !serialNewer(server, held.Serial) {
				st = ixUnchanged
			}
		case ixUnchanged:
		case ixFirst:
			if isSOA && soa.Serial != server {
				// An incremental answer: the first difference starts at our serial.
				if soa.Serial != held.Serial {
					return fmt.Errorf("difference starts at serial %d, we hold %d", soa.Serial, held.Serial)
				}
				from = soa.Serial
				st = ixDeleting
				return nil
			}
			full = zone.New(origin, server)
			st = ixFull
			if isSOA { // the whole zone is empty: SOA, SOA
				st = ixDone
				return nil
			}
			return addFull(full, rr, origin)
		case ixFull:
			if isSOA {
				if soa.Serial != server {
					return fmt.Errorf("closing SOA serial %d, opening %d", soa.Serial, server)
				}
				st = ixDone
				return nil
			}
			return addFull(full, rr, origin)
		case ixDeleting:
			if isSOA {
				to = soa.Serial
				if !serialNewer(to, from) {
					return fmt.Errorf("difference from serial %d to %d does not move forward", from, to)
				}
				st = ixAdding
				return nil
			}
			r, err := zone.FromRR(rr, origin)
			if err != nil {
				return err
			}
			ops = append(ops, op{false, r})
		case ixAdding:
			if isSOA {
				switch {
				case soa.Serial == server && to == server:
					st = ixDone // the closing SOA
				case soa.Serial == to:
					from = to // the next difference starts where this one ended
					st = ixDeleting
				default:
					return fmt.Errorf("difference ended at serial %d, the next starts at %d", to, soa.Serial)
				}
				return nil
			}
			r, err := zone.FromRR(rr, origin)
			if err != nil {
				return err
			}
			ops = append(ops, op{true, r})
		case ixDone:
			return errors.New("records after the closing SOA")
		}
		return nil
	})
	if err == nil {
		switch st {
		case ixUnchanged:
			if server != held.Serial {
				err = fmt.Errorf("server is at serial %d, older than the %d we hold", server, held.Serial)
			}
		case ixDone:
		case ixFirst:
			// A single SOA with a newer serial: the changes did not fit (UDP) or the server will not send
			// them; over TCP a server must not do this, so ask for the whole zone.
			return c.fetchAXFR(ctx, srv)
		default:
			err = fmt.Errorf("transfer ended after %d records without the closing SOA", records)
		}
	}
	what := fmt.Sprintf("IXFR of %s from serial %d", origin, held.Serial)
	if err != nil {
		return Result{}, &Error{Server: srv, Op: what, Err: err, Inconsistent: st != ixStart && st != ixUnchanged}
	}
	switch {
	case st == ixUnchanged:
		return Result{Kind: Unchanged, Server: srv, Zone: held}, nil
	case full != nil:
		return Result{Kind: Full, Server: srv, Zone: full}, nil
	}
	z := held.Clone()
	z.Serial = server
	res := Result{Kind: Delta, Server: srv, Zone: z}
	for _, o := range ops {
		_, have := z.Records[o.r]
		switch {
		case o.add && have:
			err = fmt.Errorf("adds %s, which the zone already holds", o.r)
		case !o.add && !have:
			err = fmt.Errorf("deletes %s, which the zone does not hold", o.r)
		case o.add:
			z.Records[o.r] = struct{}{}
			res.Added++
		default:
			delete(z.Records, o.r)
			res.Deleted++
		}
		if err != nil {
			return Result{}, &Error{Server: srv, Op: what, Err: err, Inconsistent: true}
		}
	}
	return res, nil
}

func addFull(z *zone.Zone, rr dns.RR, origin string) error {
	r, err := zone.FromRR(rr, origin)
	if err != nil {
		return err
	}
	z.Records[r] = struct{}{}
	return nil
}

// serialNewer reports whether a is after b in serial number arithmetic (RFC 1982).
func serialNewer(a, b uint32) bool {
	return a != b && (a-b) < 1<<31
}
