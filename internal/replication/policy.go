package replication

// Filter types of a policy (Harbor's, plus berth's platform).
const (
	FilterName     = "name"
	FilterTag      = "tag"
	FilterLabel    = "label"
	FilterResource = "resource"
	FilterPlatform = "platform"
)

// Resource types of the resource filter.
const (
	ResourceImage    = "image"
	ResourceArtifact = "artifact"
)
