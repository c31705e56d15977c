package meta

import (
	"context"
	"errors"
	"time"
)

// ErrInUse: the registry is used by a replication policy (Harbor's 412).
var ErrInUse = errors.New("the registry is used by a replication policy")

// Registry is a remote registry endpoint (Harbor's Registry): what
// replication policies and proxy-cache projects reach. AccessSecret is
// kept sealed (internal/replication seals and opens it); the store never
// sees it in clear.
type Registry struct {
	ID          int64
	Name        string
	Description string
	// Type is the adapter: "docker-registry", "harbor", "docker-hub".
	Type string
	URL  string
	// CredentialType is "basic", "oauth" or "secret" ("" when none).
	CredentialType string
	AccessKey      string
	AccessSecret   string // sealed
	Insecure       bool
	CACertificate  string
	// Status is "healthy", "unhealthy" or "" (never checked).
	Status               string
	CreatedAt, UpdatedAt time.Time
}

// ReplicationPolicy is a replication policy: its name and the registries
// it uses are columns (unique name, a registry in use cannot go), the rest
// is Harbor's ReplicationPolicy JSON, which internal/replication owns.
type ReplicationPolicy struct {
	ID   int64
	Name string
	// SrcRegistryID (pull mode) or DestRegistryID (push mode) is set, the
	// other is 0 (the local registry).
	SrcRegistryID, DestRegistryID int64
	Enabled                       bool
	// Policy is the JSON text of the rest of the policy.
	Policy               string
	CreatedAt, UpdatedAt time.Time
}

// RegistryStore keeps registry endpoints and replication policies.
type RegistryStore interface {
	// CreateRegistry adds r and sets its ID and times; ErrConflict if
	// the name is taken.
	CreateRegistry(ctx context.Context, r *Registry) error
	// Registry returns registry id; ErrNotFound if there is none.
	Registry(ctx context.Context, id int64) (*Registry, error)
	// ListRegistries lists registries by id. Keys: id, name, type, url,
	// description, status, creation_time, update_time.
	ListRegistries(ctx context.Context, q ListQuery) ([]Registry, int64, error)
	// UpdateRegistry saves every field of r.ID but its times and status;
	// ErrNotFound if there is none, ErrConflict if the name is taken.
	UpdateRegistry(ctx context.Context, r *Registry) error
	// SetRegistryStatus records a health check's outcome.
	SetRegistryStatus(ctx context.Context, id int64, status string) error
	// DeleteRegistry removes registry id; ErrNotFound if there is none,
	// ErrInUse if a replication policy uses it.
	DeleteRegistry(ctx context.Context, id int64) error

	// CreateReplicationPolicy adds p and sets its ID and times;
	// ErrConflict if the name is taken, ErrNotFound if a registry is
	// missing.
	CreateReplicationPolicy(ctx context.Context, p *ReplicationPolicy) error
	// ReplicationPolicy returns policy id; ErrNotFound if there is none.
	ReplicationPolicy(ctx context.Context, id int64) (*ReplicationPolicy, error)
	// ListReplicationPolicies lists policies by id. Keys: id, name,
	// enabled, src_registry_id, dest_registry_id, creation_time,
	// update_time.
	ListReplicationPolicies(ctx context.Context, q ListQuery) ([]ReplicationPolicy, int64, error)
	// UpdateReplicationPolicy saves p.ID's name, registries, enabled and
	// policy; ErrNotFound / ErrConflict as CreateReplicationPolicy.
	UpdateReplicationPolicy(ctx context.Context, p *ReplicationPolicy) error
	// DeleteReplicationPolicy removes policy id; ErrNotFound if none.
	DeleteReplicationPolicy(ctx context.Context, id int64) error
}
