package sqlstore

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.ProxyStore = (*Store)(nil)

// ProxyProjects implements meta.ProxyStore: the projects with a
// registry_id metadata row, with all their metadata.
func (s *Store) ProxyProjects(ctx context.Context) (_ []meta.ProxyProject, err error) {
	ctx, cancel := s.bound(ctx)
	defer s.end(cancel, &err)
	var out []meta.ProxyProject
	index := map[int64]int{}
	if err := s.eachRow(ctx, func(rows *sql.Rows) error {
		var p meta.ProxyProject
		var reg, name, value string
		if err := rows.Scan(&p.ID, &p.Name, &reg, &name, &value); err != nil {
			return err
		}
		i, ok := index[p.ID]
		if !ok {
			if p.RegistryID, err = strconv.ParseInt(reg, 10, 64); err != nil {
				return err
			}
			p.Metadata = map[string]string{}
			i = len(out)
			index[p.ID] = i
			out = append(out, p)
		}
		out[i].Metadata[name] = value
		return nil
	}, `SELECT p.id, p.name, r.value, m.name, m.value FROM projects p
		JOIN project_metadata r ON r.project_id = p.id AND r.name = ?
		JOIN project_metadata m ON m.project_id = p.id
		ORDER BY p.id`, meta.ProxyRegistryKey); err != nil {
		return nil, err
	}
	return out, nil
}

// PutProxyManifest implements meta.ProxyStore.
func (s *Store) PutProxyManifest(ctx context.Context, m *meta.Manifest, tags []string) error {
	return s.putManifest(ctx, m, tags, nil, true)
}
