package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/forwarded"
	"github.com/berth-registry/berth/internal/settings"
)

// configItem is Harbor's StringConfigItem, BoolConfigItem and
// IntegerConfigItem: a setting's value and whether PUT may change it.
type configItem struct {
	Value    any  `json:"value"`
	Editable bool `json:"editable"`
}

// fixedSetting is a setting berth shows but the API cannot change, and why.
type fixedSetting struct {
	value any
	why   string
}

// fixedSettings are the settings of Harbor's configuration that berth
// has with a value set by its flags or by what berth is: shown by GET
// /configurations as not editable, and refused by PUT.
func (s *Server) fixedSettings(r *http.Request) map[string]fixedSetting {
	ttl := s.opt.System.TokenTTL
	if ttl <= 0 {
		ttl = 30 * time.Minute // config.DefaultAuth's
	}
	return map[string]fixedSetting{
		"primary_auth_mode":        {false, "the local administrator always signs in with its local password (break-glass)"},
		"self_registration":        {false, "berth has no self-registration: administrators create users"},
		"robot_name_prefix":        {auth.RobotPrefix, "robot account names always start with " + auth.RobotPrefix},
		"notification_enable":      {s.opt.Webhooks != nil, "webhooks run wherever the API does (their policies enable them per project)"},
		"quota_per_project_enable": {true, "berth always keeps and enforces project quotas (a project without a limit has -1, unlimited)"},
		"token_expiration":         {int64(ttl / time.Minute), "set by --token-ttl"},
		"session_timeout":          {int64(s.opt.SessionTTL / time.Minute), "sessions last 12 hours"},
		"ext_endpoint":             {forwarded.BaseURL(r, s.opt.ExternalURL), "set by --external-url"},
	}
}

// getConfigurations: GET /configurations (system administrators), Harbor's
// ConfigurationsResponse: every setting berth has, with its value and
// whether PUT may change it. harbor-cli reads robot_name_prefix here
// before it creates or looks up a robot account.
func (s *Server) getConfigurations(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	out := map[string]configItem{}
	for k, f := range s.fixedSettings(r) {
		out[k] = configItem{Value: f.value}
	}
	cur := s.opt.System.Settings.Get()
	editable := s.opt.System.Settings != nil
	for _, k := range settings.Names() {
		if settings.Secret(k) { // write-only (ldap_search_password), as in Harbor
			continue
		}
		out[k] = configItem{Value: cur.Value(k), Editable: editable}
	}
	return writeJSON(w, http.StatusOK, out)
}

// updateConfigurations: PUT /configurations (system administrators) with
// Harbor's Configurations, a map of setting → value. Harbor silently drops
// keys it does not know and ignores some it will not change; berth refuses
// the whole request instead (400), naming every unknown key, every key it
// will not change and every bad value, and changes nothing.
func (s *Server) updateConfigurations(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r); err != nil {
		return err
	}
	var changes map[string]json.RawMessage
	if err := readJSON(r, &changes); err != nil {
		return err
	}
	if changes == nil {
		return errBadRequest("want an object of settings to change")
	}
	fixed := s.fixedSettings(r)
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		if f, ok := fixed[k]; ok {
			problems = append(problems, fmt.Sprintf("%s: not editable (%s)", k, f.why))
			delete(changes, k)
		}
	}
	if len(problems) > 0 {
		for _, p := range settings.Validate(changes) {
			problems = append(problems, p.Key+": "+p.Reason)
		}
		return errBadRequest("configurations: " + strings.Join(problems, "; "))
	}
	if s.opt.System.Settings == nil {
		return errors.New("configurations: no settings store")
	}
	if len(changes) == 0 {
		return ok(w)
	}
	if err := s.checkAuthModeChange(r, changes); err != nil {
		return err
	}
	_, err := s.opt.System.Settings.Update(r.Context(), changes)
	var invalid *settings.InvalidError
	if errors.As(err, &invalid) {
		return errBadRequest("configurations: " + invalid.Error())
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "update", "configuration", strings.Join(slices.Sorted(maps.Keys(changes)), ","), nil)
	if _, ok := changes[settings.AuthMode]; ok {
		s.opt.Auth.Forget() // cached local passwords of users now in the directory
	}
	return ok(w)
}
