// Package timeouts is the one place for the default network timeouts of the plugins and of
// threatstop-sync: where a setting is left out, these apply. Each package that takes a timeout exports
// its default as one of these (source.DefaultTimeout is FeedFetch, and so on), so that a default is
// changed here and nowhere else.
package timeouts

import "time"

// Feed fetches (plugin/pkg/source, threatfeed's timeout and connect_timeout).
const (
	// FeedConnect bounds the dial and TLS handshake of an HTTP feed fetch.
	FeedConnect = 10 * time.Second
	// FeedFetch bounds one HTTP feed fetch, the whole body included.
	FeedFetch = 60 * time.Second
	// FeedTransfer bounds the dial and each read of an axfr feed's zone transfer (and its SOA query).
	FeedTransfer = 30 * time.Second
)

// DeviceTransfer bounds the dial and each read of threatstop-sync's transfer of a policy zone (its
// --timeout): shorter than FeedTransfer, as a device tries its next server instead of waiting.
const DeviceTransfer = 10 * time.Second

// HTTP servers of the plugins (plugin/pkg/httplisten), for the fields an endpoint leaves zero.
const (
	// HTTPReadHeader bounds the wait for a request's headers (slowloris).
	HTTPReadHeader = 10 * time.Second
	// HTTPRead bounds reading a whole request, body included.
	HTTPRead = time.Minute
	// HTTPWrite bounds a request's handling and answer, from the end of its headers.
	HTTPWrite = time.Minute
	// HTTPIdle is how long a keep-alive connection waits for its next request.
	HTTPIdle = time.Minute
	// HTTPShutdown is how long a server's close waits for requests in flight before it drops them.
	HTTPShutdown = 2 * time.Second
)
