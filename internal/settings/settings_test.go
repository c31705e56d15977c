package settings

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a meta.SettingStore in memory, shared by the "replicas" of
// a test; fail makes its operations fail.
type memStore struct {
	mu   sync.Mutex
	m    map[string]string
	fail error
}

func (s *memStore) Settings(context.Context) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	return maps.Clone(s.m), nil
}

func (s *memStore) PutSettings(_ context.Context, v map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.m == nil {
		s.m = map[string]string{}
	}
	maps.Copy(s.m, v)
	return nil
}

func raw(kv ...string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = json.RawMessage(kv[i+1])
	}
	return out
}

func TestDefaultsAndNil(t *testing.T) {
	var none *Settings
	if none.Get() != Defaults() || none.ReadOnly() {
		t.Fatalf("nil settings: %+v", none.Get())
	}
	if _, err := none.Update(context.Background(), raw(ReadOnly, "true")); err == nil {
		t.Fatal("a nil Settings accepted a change")
	}
	s := New(&memStore{}, nil)
	if s.Get() != (Values{ProjectCreationRestriction: "everyone", RobotTokenDuration: 30, StoragePerProject: -1,
		Identity: identityDefaults(), OIDC: defaultOIDC()}) {
		t.Fatalf("defaults: %+v", s.Get())
	}
	if got := s.Get().Value(ProjectCreationRestriction); got != "everyone" {
		t.Fatalf("Value: %v", got)
	}
	if s.Get().Value("nothing") != nil {
		t.Fatal("Value of an unknown setting")
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	s := New(store, nil)
	v, err := s.Update(ctx, raw(ReadOnly, "true", ProjectCreationRestriction, `"adminonly"`, BannerMessage, `"maintenance at 5"`,
		RobotTokenDuration, "7"))
	want := Values{ReadOnly: true, ProjectCreationRestriction: AdminOnly, BannerMessage: "maintenance at 5", RobotTokenDuration: 7,
		StoragePerProject: -1, Identity: identityDefaults(), OIDC: defaultOIDC()}
	if err != nil || v != want || s.Get() != want || !s.ReadOnly() {
		t.Fatalf("Update: %+v %v", s.Get(), err)
	}
	stored, _ := store.Settings(ctx)
	wantStored := map[string]string{ReadOnly: "true", ProjectCreationRestriction: `"adminonly"`, BannerMessage: `"maintenance at 5"`,
		RobotTokenDuration: "7"}
	if !maps.Equal(stored, wantStored) {
		t.Fatalf("stored: %v", stored)
	}
	// A partial change keeps the others.
	if _, err := s.Update(ctx, raw(ReadOnly, "false")); err != nil || s.Get().ReadOnly || s.Get().RobotTokenDuration != 7 {
		t.Fatalf("partial update: %+v %v", s.Get(), err)
	}
}

func TestUpdateInvalid(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	s := New(store, nil)
	long := `"` + strings.Repeat("x", MaxBannerBytes+1) + `"`
	for _, tc := range []struct {
		changes map[string]json.RawMessage
		want    string
	}{
		{raw(ReadOnly, `"true"`), "read_only: want true or false"},
		{raw(ReadOnly, `null`), "read_only: want true or false"},
		{raw(ProjectCreationRestriction, `"admins"`), `project_creation_restriction: want "everyone" or "adminonly"`},
		{raw(RobotTokenDuration, "0"), "robot_token_duration: want a number of days from 1 to 36500"},
		{raw(RobotTokenDuration, "36501"), "robot_token_duration: want a number of days from 1 to 36500"},
		{raw(RobotTokenDuration, "1.5"), "robot_token_duration: want a whole number of days"},
		{raw(BannerMessage, long), "banner_message: want UTF-8 text of at most 4096 bytes"},
		{raw(BannerMessage, "12"), "banner_message: want a string"},
		// Every problem is named, sorted; the good change is not made.
		{raw("http_proxy", `"x"`, ReadOnly, "1", BannerMessage, `"ok"`),
			"http_proxy: berth has no such setting; read_only: want true or false"},
	} {
		_, err := s.Update(ctx, tc.changes)
		var ie *InvalidError
		if !errors.As(err, &ie) || err.Error() != tc.want {
			t.Errorf("Update(%s): %v, want %q", tc.changes, err, tc.want)
		}
		if got := Validate(tc.changes); len(got) != len(ie.Problems) {
			t.Errorf("Validate(%s) = %v, Update said %v", tc.changes, got, ie.Problems)
		}
	}
	if stored, _ := store.Settings(ctx); len(stored) != 0 || s.Get() != Defaults() {
		t.Fatalf("a refused change was stored: %v %+v", stored, s.Get())
	}
	// A store that fails: the change is not applied here either.
	store.fail = errors.New("database down")
	if _, err := s.Update(ctx, raw(ReadOnly, "true")); err == nil || s.ReadOnly() {
		t.Fatalf("update on a failing store: %v, read-only %t", err, s.ReadOnly())
	}
}

// TestReplicas: a change made on one replica reaches another at its next
// refresh; a stored value this version cannot read keeps its default.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	a, b := New(store, nil), New(store, nil)
	if _, err := a.Update(ctx, raw(ReadOnly, "true", RobotTokenDuration, "90")); err != nil {
		t.Fatal(err)
	}
	if b.ReadOnly() {
		t.Fatal("b changed before refreshing")
	}
	if err := b.Refresh(ctx); err != nil || !b.ReadOnly() || b.Get().RobotTokenDuration != 90 {
		t.Fatalf("b after refresh: %+v %v", b.Get(), err)
	}
	store.m[BannerMessage] = "not json"
	store.m["future_setting"] = `"x"`
	if err := b.Refresh(ctx); err != nil || b.Get().BannerMessage != "" || !b.ReadOnly() {
		t.Fatalf("b with a bad stored value: %+v %v", b.Get(), err)
	}
	store.fail = errors.New("database down")
	if err := b.Refresh(ctx); err == nil || !b.ReadOnly() {
		t.Fatalf("a failed refresh changed the values: %+v %v", b.Get(), err)
	}
	store.fail = nil

	// Run refreshes until its context ends.
	b.every = 5 * time.Millisecond
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(runCtx) }()
	if _, err := a.Update(ctx, raw(ReadOnly, "false")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.ReadOnly() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	<-done
	if b.ReadOnly() {
		t.Fatal("Run did not bring a's change to b")
	}
}
