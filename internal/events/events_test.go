package events

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestBus(t *testing.T) {
	b := New()
	var pushes, all []Event
	b.Subscribe(func(_ context.Context, e Event) { pushes = append(pushes, e) }, PushArtifact)
	b.Subscribe(func(_ context.Context, e Event) { all = append(all, e) })
	if !b.Wants(PushArtifact) || !b.Wants(PullArtifact) {
		t.Fatal("Wants false for subscribed types")
	}
	b.Publish(t.Context(), Event{Type: PushArtifact, Repo: "p/r"})
	b.Publish(WithInternal(t.Context()), Event{Type: PullArtifact, Repo: "p/r"})
	if len(pushes) != 1 || len(all) != 2 {
		t.Fatalf("pushes %d all %d, want 1 and 2", len(pushes), len(all))
	}
	if pushes[0].At.IsZero() || pushes[0].Internal {
		t.Fatalf("push event %+v: At not set or Internal", pushes[0])
	}
	if !all[1].Internal {
		t.Fatal("event published under WithInternal is not Internal")
	}
	var nilBus *Bus
	nilBus.Publish(t.Context(), Event{Type: PushArtifact}) // no panic
	if nilBus.Wants(PushArtifact) || New().Wants(PushArtifact) {
		t.Fatal("Wants true without subscribers")
	}
}

func TestProjectOf(t *testing.T) {
	for in, want := range map[string]string{"p/r": "p", "p/a/b": "p", "p": "p", "": ""} {
		if got := ProjectOf(in); got != want {
			t.Errorf("ProjectOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkPublishUnsubscribed(b *testing.B) {
	bus := New()
	bus.Subscribe(func(context.Context, Event) {}, PushArtifact)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(ctx, Event{Type: PullArtifact, Repo: "p/r", Digest: "sha256:x"})
	}
}

func TestGather(t *testing.T) {
	ch := make(chan Event, 10)
	for i := range 5 {
		ch <- Event{Repo: fmt.Sprint(i)}
	}
	if got := Gather(context.Background(), ch, []Event{{Repo: "first"}}, time.Second, 4); len(got) != 4 || got[0].Repo != "first" {
		t.Fatalf("capped batch = %+v", got)
	}
	t0 := time.Now()
	if got := Gather(context.Background(), ch, nil, 50*time.Millisecond, 100); len(got) != 2 || time.Since(t0) < 40*time.Millisecond {
		t.Fatalf("batch after the wait = %+v after %s", got, time.Since(t0))
	}
}
