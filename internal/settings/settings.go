// Package settings keeps the system settings that administrators change
// at run time through the management API (Harbor's configurations): who
// may create projects, read-only mode, the UI banner, the default robot
// lifetime and the default storage limit of new projects. They are stored in the database (meta.SettingStore) so every
// replica sees them, and read from memory: a change made here applies at
// once on this replica and within RefreshEvery on every other, and no
// request path ever queries for them.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/meta"
)

// The settings' names: Harbor's configuration keys.
const (
	ProjectCreationRestriction = "project_creation_restriction"
	ReadOnly                   = "read_only"
	BannerMessage              = "banner_message"
	RobotTokenDuration         = "robot_token_duration"
	StoragePerProject          = "storage_per_project"
)

// The values of project_creation_restriction, Harbor's.
const (
	Everyone  = "everyone"
	AdminOnly = "adminonly"
)

// Bounds of the values.
const (
	// MaxBannerBytes bounds banner_message (Harbor's UI stores a small
	// JSON object there: message, type, closable, dates).
	MaxBannerBytes = 4096
	// MaxRobotDays is the longest robot_token_duration: the longest
	// lifetime a robot account may be given (100 years).
	MaxRobotDays = 36500
)

// Values is one consistent set of the settings.
type Values struct {
	// ProjectCreationRestriction is Everyone (any signed-in user may
	// create a project) or AdminOnly.
	ProjectCreationRestriction string
	// ReadOnly refuses every change: pushes and deletes on /v2, writes on
	// /api/v2.0 other than to the settings themselves.
	ReadOnly bool
	// BannerMessage is shown by web UIs ("" none).
	BannerMessage string
	// RobotTokenDuration is the lifetime, in days, of a robot account
	// created or updated without one (duration 0).
	RobotTokenDuration int64
	// StoragePerProject is the storage limit, in bytes, of a project
	// created without one (meta.UnlimitedStorage: none).
	StoragePerProject int64
	// Identity is how users sign in (auth_mode, LDAP): identity.go.
	Identity Identity
	// OIDC is the OpenID Connect sign-in (see oidc.go).
	OIDC OIDC
}

// Defaults are the values of settings never changed (Harbor's defaults).
func Defaults() Values {
	return Values{ProjectCreationRestriction: Everyone, RobotTokenDuration: 30, StoragePerProject: meta.UnlimitedStorage,
		Identity: identityDefaults(), OIDC: defaultOIDC()}
}

// setting decodes and checks one setting's JSON value into a Values.
type setting struct {
	set func(v *Values, raw json.RawMessage) error
	get func(v Values) any
}

var table = map[string]setting{
	ProjectCreationRestriction: {
		set: func(v *Values, raw json.RawMessage) error {
			var s string
			if err := decode(raw, &s, "a string"); err != nil {
				return err
			}
			if s != Everyone && s != AdminOnly {
				return fmt.Errorf("want %q or %q", Everyone, AdminOnly)
			}
			v.ProjectCreationRestriction = s
			return nil
		},
		get: func(v Values) any { return v.ProjectCreationRestriction },
	},
	ReadOnly: {
		set: func(v *Values, raw json.RawMessage) error { return decode(raw, &v.ReadOnly, "true or false") },
		get: func(v Values) any { return v.ReadOnly },
	},
	BannerMessage: {
		set: func(v *Values, raw json.RawMessage) error {
			var s string
			if err := decode(raw, &s, "a string"); err != nil {
				return err
			}
			if len(s) > MaxBannerBytes || !utf8.ValidString(s) {
				return fmt.Errorf("want UTF-8 text of at most %d bytes", MaxBannerBytes)
			}
			v.BannerMessage = s
			return nil
		},
		get: func(v Values) any { return v.BannerMessage },
	},
	RobotTokenDuration: {
		set: func(v *Values, raw json.RawMessage) error {
			var n int64
			if err := decode(raw, &n, "a whole number of days"); err != nil {
				return err
			}
			if n < 1 || n > MaxRobotDays {
				return fmt.Errorf("want a number of days from 1 to %d", MaxRobotDays)
			}
			v.RobotTokenDuration = n
			return nil
		},
		get: func(v Values) any { return v.RobotTokenDuration },
	},
	StoragePerProject: {
		set: func(v *Values, raw json.RawMessage) error {
			var n int64
			if err := decode(raw, &n, "a whole number of bytes"); err != nil {
				return err
			}
			if n != meta.UnlimitedStorage && (n < 1 || n > meta.MaxStorageLimit) { // Harbor's bounds
				return fmt.Errorf("want -1 (unlimited) or a number of bytes from 1 to %d", int64(meta.MaxStorageLimit))
			}
			v.StoragePerProject = n
			return nil
		},
		get: func(v Values) any { return v.StoragePerProject },
	},
}

// decode reads raw into dst, refusing null and other types.
func decode(raw json.RawMessage, dst any, want string) error {
	if strings.TrimSpace(string(raw)) == "null" || json.Unmarshal(raw, dst) != nil {
		return fmt.Errorf("want %s", want)
	}
	return nil
}

// Editable reports whether name is a setting that can be changed.
func Editable(name string) bool {
	_, ok := table[name]
	return ok
}

// Names lists the settings that can be changed, sorted.
func Names() []string { return slices.Sorted(maps.Keys(table)) }

// Problem is what is wrong with one requested change.
type Problem struct {
	Key    string
	Reason string
}

// InvalidError refuses a change: nothing was stored.
type InvalidError struct {
	Problems []Problem // sorted by key
}

func (e *InvalidError) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, p.Key+": "+p.Reason)
	}
	return strings.Join(parts, "; ")
}

// apply sets changes on v and returns the problems, sorted by key.
func apply(v *Values, changes map[string]json.RawMessage) []Problem {
	var out []Problem
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		st, ok := table[k]
		if !ok {
			out = append(out, Problem{k, "berth has no such setting"})
			continue
		}
		if err := st.set(v, changes[k]); err != nil {
			out = append(out, Problem{k, err.Error()})
		}
	}
	return out
}

// Validate checks changes without applying them.
func Validate(changes map[string]json.RawMessage) []Problem {
	v := Defaults()
	return apply(&v, changes)
}

// RefreshEvery is how often Run reads the settings other replicas changed.
const RefreshEvery = 2 * time.Second

// Settings is the in-memory copy of the settings. A nil *Settings has the
// defaults and cannot be changed.
type Settings struct {
	store meta.SettingStore
	log   *slog.Logger
	cur   atomic.Pointer[Values]
	// mu orders Update and Refresh: a refresh that read the table before
	// an update committed must not install its older values after it.
	mu    sync.Mutex
	every time.Duration // RefreshEvery; shorter in tests
	// sealer encrypts write-only settings (SetSealer).
	sealer *Sealer
}

// New returns the settings kept in store, at their defaults until the
// first Refresh.
func New(store meta.SettingStore, log *slog.Logger) *Settings {
	if log == nil {
		log = slog.Default()
	}
	s := &Settings{store: store, log: log, every: RefreshEvery}
	d := Defaults()
	s.cur.Store(&d)
	return s
}

// Get returns the current values (a copy).
func (s *Settings) Get() Values {
	if s == nil {
		return Defaults()
	}
	return *s.cur.Load()
}

// ReadOnly reports whether the registry is in read-only mode: one atomic
// load, for the hot paths.
func (s *Settings) ReadOnly() bool {
	return s != nil && s.cur.Load().ReadOnly
}

// Value returns the JSON value of setting name.
func (v Values) Value(name string) any {
	if st, ok := table[name]; ok {
		return st.get(v)
	}
	return nil
}

// Refresh reads every stored setting. A stored value this version cannot
// read (written by another version) keeps its default, with a warning.
func (s *Settings) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.store.Settings(ctx)
	if err != nil {
		return err
	}
	v := Defaults()
	for k, raw := range stored {
		st, ok := table[k]
		if !ok {
			continue // a setting of another version
		}
		if err := st.set(&v, json.RawMessage(raw)); err != nil {
			s.log.Warn("stored setting ignored: its default applies", "setting", k, "err", err)
		}
	}
	if old := s.cur.Swap(&v); *old != v {
		s.log.Info("settings changed", "read_only", v.ReadOnly, "project_creation_restriction", v.ProjectCreationRestriction,
			"robot_token_duration", v.RobotTokenDuration, "storage_per_project", v.StoragePerProject)
	}
	return nil
}

// Update checks changes (setting name → JSON value), stores them and
// applies them here; on any problem it stores nothing and returns an
// *InvalidError naming every bad setting.
func (s *Settings) Update(ctx context.Context, changes map[string]json.RawMessage) (Values, error) {
	if s == nil {
		return Defaults(), fmt.Errorf("settings: no settings store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.Get()
	if problems := apply(&v, changes); len(problems) > 0 {
		return s.Get(), &InvalidError{Problems: problems}
	}
	if err := s.seal(&v, changes); err != nil {
		return s.Get(), err
	}
	stored := make(map[string]string, len(changes))
	for k := range changes {
		b, err := json.Marshal(table[k].get(v)) // the canonical form
		if err != nil {
			return s.Get(), err
		}
		stored[k] = string(b)
	}
	if err := s.store.PutSettings(ctx, stored); err != nil {
		return s.Get(), err
	}
	s.cur.Store(&v)
	return v, nil
}

// Run refreshes every RefreshEvery until ctx ends.
func (s *Settings) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reading settings", "err", err)
			}
		}
	}
}
