package meta

import "context"

// Statistics counts projects and repositories for the dashboard (Harbor's
// Statistic). Private counts cover the private projects the query asked
// for (see StatisticsQuery); Storage is set only when asked for.
type Statistics struct {
	PublicProjects, PublicRepos   int64
	PrivateProjects, PrivateRepos int64
	// Storage is the sum of the projects' used storage, as their quotas
	// count it (meta/quota.go): a blob held by two projects counts in
	// both, and blobs released or never linked (awaiting garbage
	// collection) count in none. It is read from the kept usage, not
	// computed by a scan.
	Storage int64
}

// StatisticsQuery says which private projects Statistics counts: all of
// them (AllPrivate), those user MemberOf is a member of (MemberOf > 0), or
// none. Public projects are always counted.
type StatisticsQuery struct {
	AllPrivate bool
	MemberOf   int64
	Storage    bool // also sum the storage (one row per project)
}

// RepoSearch selects repositories whose full name ("project/repo")
// contains Name, ignoring ASCII case, in the projects a caller may see:
// every project (All), the public ones and those user VisibleTo is a
// member of (VisibleTo > 0), or the public ones only.
type RepoSearch struct {
	Name      string
	All       bool
	VisibleTo int64
	// VisibleToGroups adds the projects these user groups (the user's)
	// are members of.
	VisibleToGroups []int64
	Limit           int // at most this many, by name; at most MaxListSize
}

// RepoHit is one repository found by SearchRepositories.
type RepoHit struct {
	ProjectID     int64
	Project       string
	Public        bool
	Name          string // the full name, "project/repo"
	ArtifactCount int64  // top-level artifacts, as RepoInfo's
	PullCount     int64
}

// SystemStore answers the system-wide reads of the management API: the
// dashboard statistics and the search across projects.
type SystemStore interface {
	// Statistics counts in one pass over the projects (and, if asked,
	// sums the storage in one more query).
	Statistics(ctx context.Context, q StatisticsQuery) (Statistics, error)
	// SearchRepositories lists the repositories that match q, ordered by
	// name.
	SearchRepositories(ctx context.Context, q RepoSearch) ([]RepoHit, error)
}

// SettingStore keeps the system settings that administrators change
// through the API (Harbor's configurations) as name → JSON value, shared
// by every replica through the database.
type SettingStore interface {
	// Settings returns every stored setting.
	Settings(ctx context.Context) (map[string]string, error)
	// PutSettings stores the given settings, all or none.
	PutSettings(ctx context.Context, values map[string]string) error
}
