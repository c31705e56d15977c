package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// Registries (Harbor's tag "registry"): the remote registry endpoints
// replication policies and proxy-cache projects use, for system
// administrators. The credential's secret is sealed at rest and shown as
// "*****"; the status is refreshed by a health check every five minutes
// and by each ping of a saved registry.

// registryJSON is Harbor's Registry.
type registryJSON struct {
	ID            int64                   `json:"id"`
	URL           string                  `json:"url"`
	Name          string                  `json:"name"`
	Credential    *registryCredentialJSON `json:"credential,omitempty"`
	Type          string                  `json:"type"`
	Insecure      bool                    `json:"insecure"`
	CACertificate *string                 `json:"ca_certificate"`
	Description   string                  `json:"description"`
	Status        string                  `json:"status"`
	CreationTime  harborTime              `json:"creation_time"`
	UpdateTime    harborTime              `json:"update_time"`
}

// registryCredentialJSON is Harbor's RegistryCredential.
type registryCredentialJSON struct {
	Type         string `json:"type"`
	AccessKey    string `json:"access_key"`
	AccessSecret string `json:"access_secret"`
}

func registryJSONOf(r *replication.Registry) registryJSON {
	out := registryJSON{ID: r.ID, URL: r.URL, Name: r.Name, Type: r.Type, Insecure: r.Insecure, Description: r.Description,
		Status: r.Status, CreationTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt)}
	if r.CACertificate != "" {
		out.CACertificate = &r.CACertificate
	}
	if c := r.Credential; c != nil {
		out.Credential = &registryCredentialJSON{Type: c.Type, AccessKey: c.AccessKey}
		if c.AccessSecret != "" {
			out.Credential.AccessSecret = replication.Redacted
		}
	}
	return out
}

func (b *registryJSON) registry() *replication.Registry {
	r := &replication.Registry{ID: b.ID, Name: b.Name, Description: b.Description, Type: b.Type, URL: b.URL, Insecure: b.Insecure}
	if b.CACertificate != nil {
		r.CACertificate = *b.CACertificate
	}
	if c := b.Credential; c != nil {
		r.Credential = &replication.Credential{Type: c.Type, AccessKey: c.AccessKey, AccessSecret: c.AccessSecret}
	}
	return r
}

// registryErr turns replication's refusals into Harbor's answers.
func registryErr(err error) error {
	switch {
	case errors.Is(err, replication.ErrInvalid):
		return errBadRequest(err.Error())
	case errors.Is(err, meta.ErrInUse):
		return errPrecondition(err.Error())
	}
	return err
}

// registries returns the registries service, for system administrators.
func (s *Server) registries(r *http.Request) (*replication.Registries, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	if s.opt.Registries == nil {
		return nil, errNotRunning("replication is not running")
	}
	return s.opt.Registries, nil
}

// registryID reads {id}.
func registryID(r *http.Request) (int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, err
	}
	return id, nil
}

// registryFor is the start of the operations on /registries/{id}: the
// registries (503 without them), the id in the path and that registry,
// its secret redacted (404 if there is none).
func (s *Server) registryFor(r *http.Request) (*replication.Registries, *replication.Registry, error) {
	rs, err := s.registries(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := registryID(r)
	if err != nil {
		return nil, nil, err
	}
	reg, err := rs.Shown(r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil, errNotFound(fmt.Sprintf("registry %d not found", id))
	}
	return rs, reg, err
}

// listRegistries: GET /registries (q keys: id, name, type, url,
// description, status, creation_time, update_time; name= is Harbor's
// deprecated fuzzy filter).
func (s *Server) listRegistries(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.registries(r)
	if err != nil {
		return err
	}
	q, err := namedListQuery(r)
	if err != nil {
		return err
	}
	list, total, err := rs.List(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, q.Page, total, list, registryJSONOf)
}

// createRegistry: POST /registries, 201 with Location.
func (s *Server) createRegistry(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.registries(r)
	if err != nil {
		return err
	}
	var b registryJSON
	if err := readJSON(r, &b); err != nil {
		return err
	}
	reg := b.registry()
	reg.ID = 0
	if err := rs.Create(r.Context(), reg); errors.Is(err, meta.ErrConflict) {
		return errConflict(fmt.Sprintf("a registry named %q exists", reg.Name))
	} else if err != nil {
		return registryErr(err)
	}
	s.record(r.Context(), r, "create", "registry", reg.Name, nil)
	return created(w, Prefix+"/registries/"+strconv.FormatInt(reg.ID, 10))
}

// getRegistry: GET /registries/{id}.
func (s *Server) getRegistry(w http.ResponseWriter, r *http.Request) error {
	_, reg, err := s.registryFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registryJSONOf(reg))
}

// registryUpdateJSON is Harbor's RegistryUpdate: what is set changes.
type registryUpdateJSON struct {
	Name           *string `json:"name"`
	Description    *string `json:"description"`
	URL            *string `json:"url"`
	CredentialType *string `json:"credential_type"`
	AccessKey      *string `json:"access_key"`
	AccessSecret   *string `json:"access_secret"`
	Insecure       *bool   `json:"insecure"`
	CACertificate  *string `json:"ca_certificate"`
}

// apply sets what b sets on reg (as Get returned it, secret in clear).
func (b *registryUpdateJSON) apply(reg *replication.Registry) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&reg.Name, b.Name)
	set(&reg.Description, b.Description)
	set(&reg.URL, b.URL)
	set(&reg.CACertificate, b.CACertificate)
	if b.Insecure != nil {
		reg.Insecure = *b.Insecure
	}
	if b.CredentialType != nil || b.AccessKey != nil || b.AccessSecret != nil {
		if reg.Credential == nil {
			reg.Credential = &replication.Credential{}
		}
		set(&reg.Credential.Type, b.CredentialType)
		set(&reg.Credential.AccessKey, b.AccessKey)
		set(&reg.Credential.AccessSecret, b.AccessSecret)
	}
}

// updateRegistry: PUT /registries/{id} (a secret of "*****" keeps the
// stored one).
func (s *Server) updateRegistry(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.registries(r)
	if err != nil {
		return err
	}
	id, err := registryID(r)
	if err != nil {
		return err
	}
	var b registryUpdateJSON
	if err := readJSON(r, &b); err != nil {
		return err
	}
	reg, err := rs.Get(r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return errNotFound(fmt.Sprintf("registry %d not found", id))
	} else if err != nil {
		return err
	}
	b.apply(reg)
	if err := rs.Update(r.Context(), reg); errors.Is(err, meta.ErrConflict) {
		return errConflict(fmt.Sprintf("a registry named %q exists", reg.Name))
	} else if errors.Is(err, meta.ErrNotFound) {
		return errNotFound(fmt.Sprintf("registry %d not found", id))
	} else if err != nil {
		return registryErr(err)
	}
	s.record(r.Context(), r, "update", "registry", reg.Name, nil)
	return ok(w)
}

// deleteRegistry: DELETE /registries/{id}; 412 while a policy uses it.
func (s *Server) deleteRegistry(w http.ResponseWriter, r *http.Request) error {
	rs, reg, err := s.registryFor(r)
	if err != nil {
		return err
	}
	id := reg.ID
	if err := s.refuseProxyRegistry(r.Context(), id); err != nil {
		return err
	}
	if err := rs.Delete(r.Context(), id); errors.Is(err, meta.ErrNotFound) {
		return errNotFound(fmt.Sprintf("registry %d not found", id))
	} else if err != nil {
		return registryErr(err)
	}
	s.record(r.Context(), r, "delete", "registry", reg.Name, nil)
	return ok(w)
}

// registryPingJSON is Harbor's RegistryPing.
type registryPingJSON struct {
	ID *int64 `json:"id"`
	registryUpdateJSON
	Type *string `json:"type"`
}

// pingRegistry: POST /registries/ping: a saved registry (id, its fields
// overridden by those given) or an unsaved one (type and url); 400 with
// the reason when it does not answer. A saved registry's status is
// recorded.
func (s *Server) pingRegistry(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.registries(r)
	if err != nil {
		return err
	}
	var b registryPingJSON
	if err := readJSON(r, &b); err != nil {
		return err
	}
	reg := &replication.Registry{}
	if b.ID != nil && *b.ID != 0 {
		if reg, err = rs.Get(r.Context(), *b.ID); errors.Is(err, meta.ErrNotFound) {
			return errNotFound(fmt.Sprintf("registry %d not found", *b.ID))
		} else if err != nil {
			return err
		}
		if b.AccessSecret != nil && *b.AccessSecret == replication.Redacted {
			b.AccessSecret = nil
		}
	} else {
		reg.Name = "ping"
	}
	if b.Type != nil {
		reg.Type = *b.Type
	}
	b.apply(reg)
	changed := b.Type != nil || b.URL != nil || b.CredentialType != nil || b.AccessKey != nil || b.AccessSecret != nil ||
		b.Insecure != nil || b.CACertificate != nil
	if reg.ID != 0 && !changed {
		if _, err := rs.Check(r.Context(), reg.ID); err != nil {
			return registryErr(pingErr(err))
		}
		return ok(w)
	}
	if err := rs.Ping(r.Context(), reg); err != nil {
		return registryErr(pingErr(err))
	}
	return ok(w)
}

func pingErr(err error) error {
	if errors.Is(err, replication.ErrInvalid) {
		return err
	}
	return errBadRequest("failed to ping the registry: " + err.Error())
}

// getRegistryInfo: GET /registries/{id}/info.
func (s *Server) getRegistryInfo(w http.ResponseWriter, r *http.Request) error {
	_, reg, err := s.registryFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, replication.InfoOf(reg.Type))
}

// listRegistryProviderTypes: GET /replication/adapters.
func (s *Server) listRegistryProviderTypes(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.registries(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, replication.AdapterTypes())
}

// listRegistryProviderInfos: GET /replication/adapterinfos.
func (s *Server) listRegistryProviderInfos(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.registries(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, replication.ProviderInfos())
}
