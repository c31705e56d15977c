package auth

// NumericName reports whether name is all digits. Such a project name is
// refused, as Harbor does, because in /api/v2.0/projects/{project_name_or_id}
// it would read as a project id; projects that already have one stay
// readable.
func NumericName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return name != ""
}
