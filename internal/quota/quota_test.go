package quota

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
)

func TestCheckLimit(t *testing.T) {
	for n, ok := range map[int64]bool{-1: true, 1: true, 10 << 30: true, MaxLimit: true,
		0: false, -2: false, MaxLimit + 1: false} {
		if err := CheckLimit(n); (err == nil) != ok {
			t.Errorf("CheckLimit(%d) = %v", n, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 535511449: "510.7 MiB",
		10 << 30: "10.0 GiB", MaxLimit: "1.0 PiB", 1<<63 - 1: "8.0 EiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMessage(t *testing.T) {
	got := Message(&meta.QuotaExceededError{Adding: 535511449, Used: 10 << 30, Limit: 10 << 30})
	const want = "adding 510.7 MiB of storage resource, which when updated to current usage of 10.0 GiB will exceed the configured upper limit of 10.0 GiB."
	if got != want {
		t.Fatalf("Message = %q\nwant      %q", got, want)
	}
}

func TestEventOf(t *testing.T) {
	for _, c := range []struct {
		name   string
		change meta.UsageChange
		want   EventType // "" none
	}{
		{"crossing 85%", meta.UsageChange{Before: 84, After: 85, Limit: 100}, Warning},
		{"straight to full", meta.UsageChange{Before: 0, After: 100, Limit: 100}, Warning},
		{"already over 85%", meta.UsageChange{Before: 86, After: 90, Limit: 100}, ""},
		{"under 85%", meta.UsageChange{Before: 10, After: 84, Limit: 100}, ""},
		{"release", meta.UsageChange{Before: 90, After: 10, Limit: 100}, ""},
		{"unlimited", meta.UsageChange{Before: 0, After: 1 << 40, Limit: -1}, ""},
		{"refused", meta.UsageChange{Before: 90, After: 90, Adding: 20, Limit: 100, Refused: true}, Exceed},
		{"refused without a limit change", meta.UsageChange{Before: 0, Adding: 1, Limit: 0, Refused: true}, Exceed},
	} {
		ev, ok := EventOf(c.change)
		if ok != (c.want != "") || ev.Type != c.want {
			t.Errorf("%s: EventOf = %+v, %v; want %q", c.name, ev, ok, c.want)
		}
	}
	ev, _ := EventOf(meta.UsageChange{Project: "p", Repo: "p/a", Before: 84, After: 85, Limit: 100})
	if ev.Project != "p" || ev.Repo != "p/a" || ev.Used != 85 || ev.Message != "quota usage reach 85%: resource storage used 85 B of 100 B" {
		t.Errorf("warning = %+v", ev)
	}
	ev, _ = EventOf(meta.UsageChange{Project: "p", Before: 90, After: 90, Adding: 20, Limit: 100, Refused: true})
	if ev.Used != 90 || ev.Message != "adding 20 B of storage resource, which when updated to current usage of 90 B will exceed the configured upper limit of 100 B." {
		t.Errorf("exceed = %+v", ev)
	}
}

func TestNotifier(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	n := NewNotifier(func(ev Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := auth.WithIdentity(context.Background(), &auth.Identity{Kind: auth.UserKind, Name: "alice"})
	n.Observe(ctx, meta.UsageChange{Project: "p", Before: 0, After: 90, Limit: 100})
	n.Observe(ctx, meta.UsageChange{Project: "p", Before: 90, After: 95, Limit: 100}) // no event
	n.Observe(ctx, meta.UsageChange{Project: "p", Before: 95, After: 95, Adding: 10, Limit: 100, Refused: true})
	n.Close()
	n.Observe(ctx, meta.UsageChange{Project: "p", Refused: true}) // after Close: dropped, no panic
	if n.Dropped.Load() != 1 {
		t.Errorf("dropped %d", n.Dropped.Load())
	}
	if len(got) != 2 || got[0].Type != Warning || got[1].Type != Exceed || got[0].Operator != "alice" || got[1].At.IsZero() {
		t.Fatalf("events = %+v", got)
	}
}
