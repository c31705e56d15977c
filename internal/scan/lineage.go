package scan

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Lineage is the base image of an artifact within this registry: the
// catalogued image whose layers are the longest proper prefix of the
// artifact's (what it was built FROM, as far as berth can see).
type Lineage struct {
	Digest digest.Digest `json:"digest"`
	// Layers is how many of the artifact's layers come from it.
	Layers int `json:"layers"`
	// Repositories hold the base (at most maxLineageRepos).
	Repositories []string `json:"repositories"`
}

const maxLineageRepos = 5

// BaseImage returns d's lineage, nil if no catalogued image is a prefix
// of it.
func (s *Scanner) BaseImage(ctx context.Context, d digest.Digest) (*Lineage, error) {
	base, n, err := s.Store.BaseImage(ctx, d)
	if err != nil || base == "" {
		return nil, err
	}
	repos, err := s.Store.DigestRepositories(ctx, []digest.Digest{base})
	if err != nil {
		return nil, err
	}
	rs := repos[base]
	return &Lineage{Digest: base, Layers: n, Repositories: rs[:min(len(rs), maxLineageRepos)]}, nil
}
