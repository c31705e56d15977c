package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
	"github.com/berth-registry/berth/internal/sign"
)

// signingKey is a project's signing key (berth's SigningKey): a cosign
// public key or a notation certificate, as PEM. Project admins manage
// them; members read them (they are public material).
type signingKey struct {
	ID           int64       `json:"id"`
	Name         string      `json:"name"`
	Type         string      `json:"type"`
	PublicKey    string      `json:"public_key,omitempty"`
	Certificate  string      `json:"certificate,omitempty"`
	Fingerprint  string      `json:"fingerprint,omitempty"`
	Creator      string      `json:"creator,omitempty"`
	CreationTime *harborTime `json:"creation_time,omitempty"`
}

func signingKeyJSON(k *meta.SigningKey) signingKey {
	out := signingKey{ID: k.ID, Name: k.Name, Type: k.Type, Fingerprint: sign.Fingerprint(k), Creator: k.Creator,
		CreationTime: new(harborTime(k.CreatedAt))}
	if k.Type == meta.SigningKeyCosign {
		out.PublicKey = k.PEM
	} else {
		out.Certificate = k.PEM
	}
	return out
}

// signing is the signature service, or 503 when berth runs without it.
func (s *Server) signing() (*sign.Checker, error) {
	if s.opt.Signing == nil {
		return nil, errNotRunning("signature policies are not enabled")
	}
	return s.opt.Signing, nil
}

// signingKeyFor authorizes action in {project_name_or_id} and reads
// {signing_key_id}, a key of that project (404 if not).
func (s *Server) signingKeyFor(r *http.Request, action rbac.Action) (*sign.Checker, *meta.Project, *meta.SigningKey, error) {
	svc, err := s.signing()
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := s.projectFor(r, "project_name_or_id", action)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := pathID(r, "signing_key_id")
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := svc.Key(r.Context(), p.ID, id)
	if isNotFound(err) {
		return nil, nil, nil, errNotFound(fmt.Sprintf("signing key %d not found in project %s", id, p.Name))
	}
	return svc, p, k, err
}

// listSigningKeys: GET /projects/{project_name_or_id}/signing-keys (q and
// sort keys: id, name, type; by id).
func (s *Server) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.signing()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.ReadMembers)
	if err != nil {
		return err
	}
	lq, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := svc.Keys(r.Context(), p.ID, lq)
	if err != nil {
		return err
	}
	return writeList(w, r, lq.Page, total, list, signingKeyJSON)
}

// getSigningKey: GET .../signing-keys/{signing_key_id}.
func (s *Server) getSigningKey(w http.ResponseWriter, r *http.Request) error {
	_, _, k, err := s.signingKeyFor(r, rbac.ReadMembers)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, signingKeyJSON(k))
}

// createSigningKey: POST /projects/{project_name_or_id}/signing-keys with
// {"name","type":"cosign","public_key"} or {"name","type":"notation",
// "certificate"}; the PEM is checked (a PKIX public key, ECDSA, Ed25519 or
// RSA ≥ 2048 bits; X.509 certificates) and 201 answered with Location.
func (s *Server) createSigningKey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.signing()
	if err != nil {
		return err
	}
	p, err := s.projectFor(r, "project_name_or_id", rbac.WriteProject)
	if err != nil {
		return err
	}
	var body signingKey
	if err := readJSON(r, &body); err != nil {
		return err
	}
	body.Name = strings.TrimSpace(body.Name)
	if body.Name == "" || len(body.Name) > 255 {
		return errBadRequest("name is required (at most 255 characters)")
	}
	k := &meta.SigningKey{ProjectID: p.ID, Name: body.Name, Type: body.Type, Creator: auth.FromContext(r.Context()).Name}
	switch body.Type {
	case meta.SigningKeyCosign:
		if body.Certificate != "" {
			return errBadRequest("a cosign key takes public_key, not certificate")
		}
		k.PEM = body.PublicKey
	case meta.SigningKeyNotation:
		if body.PublicKey != "" {
			return errBadRequest("a notation key takes certificate, not public_key")
		}
		k.PEM = body.Certificate
	}
	var invalid *sign.InvalidKeyError
	switch err := svc.AddKey(r.Context(), k); {
	case errors.As(err, &invalid):
		return errBadRequest(invalid.Reason)
	case errors.Is(err, meta.ErrConflict):
		return errConflict("project " + p.Name + " already has a signing key named " + k.Name)
	case errors.Is(err, meta.ErrSigningKeyLimit):
		return errBadRequest(fmt.Sprintf("project %s has %d signing keys, the most it may have", p.Name, meta.MaxSigningKeys))
	case isNotFound(err): // deleted meanwhile
		return errProjectNotFound(r.PathValue("project_name_or_id"))
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "create", "signing_key", signingKeyResource(p, k), p)
	return created(w, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(k.ID, 10))
}

// deleteSigningKey: DELETE .../signing-keys/{signing_key_id}.
func (s *Server) deleteSigningKey(w http.ResponseWriter, r *http.Request) error {
	svc, p, k, err := s.signingKeyFor(r, rbac.WriteProject)
	if err != nil {
		return err
	}
	if err := svc.DeleteKey(r.Context(), p.ID, k.ID); err != nil {
		if isNotFound(err) {
			return errNotFound(fmt.Sprintf("signing key %d not found in project %s", k.ID, p.Name))
		}
		return err
	}
	s.record(r.Context(), r, "delete", "signing_key", signingKeyResource(p, k), p)
	return ok(w)
}

func signingKeyResource(p *meta.Project, k *meta.SigningKey) string {
	return fmt.Sprintf("%s/signing-keys/%d (%s %s)", p.Name, k.ID, k.Type, k.Name)
}
