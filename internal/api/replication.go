package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// Replication (Harbor's tag "replication"), for system administrators:
// policies, their executions (jobs of replication.Kind, one task per
// repository), the tasks and their logs. Statuses are Harbor's display
// ones (InProgress, Succeed, Failed, Stopped).

// replicationPolicyJSON is Harbor's ReplicationPolicy.
type replicationPolicyJSON struct {
	ID           int64         `json:"id"`
	Name         string        `json:"name"`
	SrcRegistry  *registryJSON `json:"src_registry"`
	DestRegistry *registryJSON `json:"dest_registry"`
	Enabled      bool          `json:"enabled"`
	// Deletion is Harbor's deprecated alias of replicate_deletion.
	Deletion     bool       `json:"deletion"`
	CreationTime harborTime `json:"creation_time"`
	UpdateTime   harborTime `json:"update_time"`
	replication.Policy
}

// policyRegistry is the registry a policy shows ({"id":0,"name":"Local"}
// for berth, as Harbor shows itself).
func (s *Server) policyRegistry(r *http.Request, id int64) *registryJSON {
	if id == 0 {
		return &registryJSON{Name: "Local", Type: replication.TypeHarbor, Status: replication.Healthy}
	}
	reg, err := s.opt.Registries.Shown(r.Context(), id)
	if err != nil {
		return &registryJSON{ID: id}
	}
	j := registryJSONOf(reg)
	return &j
}

func (s *Server) policyJSONOf(r *http.Request, p *replication.Policy) replicationPolicyJSON {
	if p.Filters == nil {
		p.Filters = []replication.Filter{}
	}
	return replicationPolicyJSON{ID: p.ID, Name: p.Name, SrcRegistry: s.policyRegistry(r, p.SrcRegistry),
		DestRegistry: s.policyRegistry(r, p.DestRegistry), Enabled: p.Enabled, Deletion: p.ReplicateDeletion,
		CreationTime: harborTime(p.CreatedAt), UpdateTime: harborTime(p.UpdatedAt), Policy: *p}
}

// policy is the body as a replication.Policy (a registry of id 0 is the
// local one).
func (b *replicationPolicyJSON) policy() *replication.Policy {
	p := b.Policy
	p.Name, p.Enabled = b.Name, b.Enabled
	p.ReplicateDeletion = p.ReplicateDeletion || b.Deletion
	if b.SrcRegistry != nil {
		p.SrcRegistry = b.SrcRegistry.ID
	}
	if b.DestRegistry != nil {
		p.DestRegistry = b.DestRegistry.ID
	}
	return &p
}

// replicationEngine returns the engine, for system administrators.
func (s *Server) replicationEngine(r *http.Request) (*replication.Engine, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	if s.opt.Replication == nil || s.opt.Registries == nil {
		return nil, errNotRunning("replication is not running")
	}
	return s.opt.Replication, nil
}

func policyErr(err error, p *replication.Policy) error {
	switch {
	case errors.Is(err, meta.ErrConflict):
		return errConflict(fmt.Sprintf("a replication policy named %q exists", p.Name))
	case errors.Is(err, meta.ErrNotFound):
		return errBadRequest("the policy's registry does not exist")
	}
	return registryErr(err)
}

// listReplicationPolicies: GET /replication/policies (q keys: id, name,
// enabled, src_registry_id, dest_registry_id, creation_time,
// update_time; name= is Harbor's deprecated fuzzy filter).
func (s *Server) listReplicationPolicies(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	q, err := namedListQuery(r)
	if err != nil {
		return err
	}
	list, total, err := e.Policies(r.Context(), q)
	if err != nil {
		return err
	}
	return writeList(w, r, q.Page, total, list, func(p *replication.Policy) replicationPolicyJSON { return s.policyJSONOf(r, p) })
}

// createReplicationPolicy: POST /replication/policies, 201 with Location.
func (s *Server) createReplicationPolicy(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	var b replicationPolicyJSON
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := b.policy()
	if err := e.CreatePolicy(r.Context(), p); err != nil {
		return policyErr(err, p)
	}
	s.record(r.Context(), r, "create", "replication_policy", p.Name, nil)
	return created(w, Prefix+"/replication/policies/"+strconv.FormatInt(p.ID, 10))
}

// policyFor reads policy {id}.
func (s *Server) policyFor(r *http.Request, e *replication.Engine) (*replication.Policy, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := e.Policy(r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, errNotFound(fmt.Sprintf("replication policy %d not found", id))
	}
	return p, err
}

// getReplicationPolicy: GET /replication/policies/{id}.
func (s *Server) getReplicationPolicy(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	p, err := s.policyFor(r, e)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.policyJSONOf(r, p))
}

// updateReplicationPolicy: PUT /replication/policies/{id}: the whole
// policy.
func (s *Server) updateReplicationPolicy(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	old, err := s.policyFor(r, e)
	if err != nil {
		return err
	}
	var b replicationPolicyJSON
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := b.policy()
	p.ID = old.ID
	if err := e.UpdatePolicy(r.Context(), p); err != nil {
		return policyErr(err, p)
	}
	s.record(r.Context(), r, "update", "replication_policy", p.Name, nil)
	return ok(w)
}

// deleteReplicationPolicy: DELETE /replication/policies/{id}; 412 while
// one of its executions is in progress.
func (s *Server) deleteReplicationPolicy(w http.ResponseWriter, r *http.Request) error {
	e, err := s.replicationEngine(r)
	if err != nil {
		return err
	}
	p, err := s.policyFor(r, e)
	if err != nil {
		return err
	}
	if err := e.DeletePolicy(r.Context(), p.ID); errors.Is(err, replication.ErrActive) {
		return errPrecondition(err.Error())
	} else if err != nil {
		return err
	}
	s.record(r.Context(), r, "delete", "replication_policy", p.Name, nil)
	return ok(w)
}
