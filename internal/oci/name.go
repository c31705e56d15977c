package oci

// MaxNameLength bounds a repository name. The distribution spec leaves the
// limit to registries; 255 matches the reference registry and keeps
// "<name>:<tag>" under the 384 bytes many clients assume.
const MaxNameLength = 255

// MaxTagLength is the spec's limit: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
const MaxTagLength = 128

// ValidName reports whether s matches the distribution spec's repository
// name grammar:
//
//	[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//
// It is hand-written rather than a regexp because it runs on every request.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' {
			if !validComponent(s[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

func isAlnumLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validComponent checks one path component: alphanumeric runs joined by a
// single '.', one or two '_', or any number of '-'.
func validComponent(c string) bool {
	if len(c) == 0 || !isAlnumLower(c[0]) || !isAlnumLower(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); {
		if isAlnumLower(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isAlnumLower(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == "." || sep == "_" || sep == "__":
		case allDashes(sep):
		default:
			return false
		}
		i = j
	}
	return true
}

func allDashes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			return false
		}
	}
	return true
}

// ValidTag reports whether s is a valid tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidTag(s string) bool {
	if len(s) == 0 || len(s) > MaxTagLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
