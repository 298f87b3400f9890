// Package feed keeps one named threat feed current: it fetches the source, parses it, checks that the
// result is believable, and only then replaces the last good content. A feed that fails to read, reads
// empty after having had entries, or reads as garbage keeps serving its last good content; the failure
// is returned to the caller for the log and the metrics.
package feed

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

// Errors that reject a new version and keep the last good one.
var (
	ErrEmpty   = errors.New("no entries, after having had entries before")
	ErrGarbage = errors.New("more invalid lines than entries")
)

// Feed is one named list. Its configuration fields are set before the first Update and never change.
type Feed struct {
	Name     string
	Category string
	Source   source.Source
	Parser   format.Parser
	Refresh  time.Duration

	content atomic.Pointer[Content]
	status  atomic.Pointer[Status]
}

// Content is one accepted version of a feed.
type Content struct {
	Set     *entryset.Set
	Version uint64 // 1 for the first accepted version, then one more per accepted change
	Sum     [sha256.Size]byte
	Stats   format.Stats // of the parse that produced Set
	Loaded  time.Time    // when this version was accepted
}

// Status is the outcome of the latest attempts.
type Status struct {
	LastAttempt time.Time
	LastSuccess time.Time // last fetch after which the feed's content is current, changed or not
	LastError   error     // of the latest attempt; nil when it succeeded
	Stats       format.Stats
}

// Content returns the last good version, nil before the first one.
func (f *Feed) Content() *Content { return f.content.Load() }

// Status returns the outcome of the latest attempts; the zero Status before the first.
func (f *Feed) Status() Status {
	if s := f.status.Load(); s != nil {
		return *s
	}
	return Status{}
}

// Update fetches and parses the source and, when the result is acceptable and differs from the last
// good content, makes it the new content. It reports whether the content changed. The returned Stats
// are those of the parse, if one happened, so the caller can log invalid lines even on success.
func (f *Feed) Update(ctx context.Context) (changed bool, stats format.Stats, err error) {
	now := time.Now()
	st := f.Status()
	st.LastAttempt = now
	data, err := f.Source.Fetch(ctx)
	if errors.Is(err, source.ErrNotModified) {
		// The bytes were judged before: a rejected version stays rejected without being reported again.
		if st.LastError == nil {
			st.LastSuccess = now
		}
		f.status.Store(&st)
		return false, st.Stats, nil
	}
	defer func() {
		st.LastError = err
		if err == nil {
			st.LastSuccess = now
		}
		f.status.Store(&st)
	}()
	if err != nil {
		return false, st.Stats, err
	}
	old := f.content.Load()
	sum := sha256.Sum256(data)
	if old != nil && sum == old.Sum {
		return false, old.Stats, nil
	}

	var b entryset.Builder
	f.Parser.Parse(string(data), &b, &stats)
	st.Stats = stats
	switch {
	case stats.Invalid > stats.Entries:
		return false, stats, fmt.Errorf("%w (%d invalid, %d entries); keeping the last good version", ErrGarbage, stats.Invalid, stats.Entries)
	case stats.Entries == 0 && old != nil && old.Set.Len() > 0:
		return false, stats, fmt.Errorf("%w (%d); keeping the last good version", ErrEmpty, old.Set.Len())
	}
	next := &Content{Set: b.Set(), Sum: sum, Stats: stats, Loaded: now, Version: 1}
	if old != nil {
		next.Version = old.Version + 1
		if next.Set.Equal(old.Set) {
			// Same entries in other bytes (comments, order): remember the bytes, keep the version.
			next.Version, next.Loaded = old.Version, old.Loaded
			f.content.Store(next)
			return false, stats, nil
		}
	}
	f.content.Store(next)
	return true, stats, nil
}
