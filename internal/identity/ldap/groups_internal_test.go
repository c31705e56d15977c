package ldap

import "testing"

func TestFilters(t *testing.T) {
	c := Config{GroupFilter: "objectClass=group"}
	if got, want := inChainFilter(c, "CN=Ann (IT),OU=People,DC=corp"),
		`(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=CN=Ann \28IT\29,OU=People,DC=corp))`; got != want {
		t.Errorf("inChainFilter = %s, want %s", got, want)
	}
	if got := inChainFilter(Config{}, "cn=a"); got != "(member:1.2.840.113556.1.4.1941:=cn=a)" {
		t.Errorf("without a group filter: %s", got)
	}
	u := Config{UID: "sAMAccountName", Filter: "(objectClass=person)"}
	if got, want := userFilter(u, "j*doe"), "(&(objectClass=person)(sAMAccountName=j*doe))"; got != want {
		t.Errorf("userFilter = %s, want %s", got, want)
	}
	if got := userFilter(Config{UID: "uid", Filter: "objectClass=inetOrgPerson"}, "x"); got != "(&(objectClass=inetOrgPerson)(uid=x))" {
		t.Errorf("a filter without parentheses: %s", got)
	}
	if !sameDN("CN=Admins, OU=Groups,DC=corp", "cn=admins,ou=groups,dc=corp") || sameDN("cn=a,dc=corp", "cn=b,dc=corp") {
		t.Error("sameDN")
	}
}
