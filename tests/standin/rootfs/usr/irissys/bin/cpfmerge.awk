# Stand-in CPF merge (test infrastructure only): apply a merge file to iris.cpf.
# Usage: awk -f cpfmerge.awk MERGE_FILE IRIS_CPF > NEW_CPF
# Settings of sections that iris.cpf has are set (replaced or added); other sections are not
# written (a misspelt section is silently ignored, as observed on real IRIS). [Actions]
# operations are applied to the configuration they change and never written as a section ("Do
# not add the [Actions] section directly to the CPF", RACS_actions); each is skipped when its
# object exists (the operations are idempotent):
#   CreateDatabase:Name=N,Directory=D   [Databases] N=D/ (and creates D/IRIS.DAT)
#   CreateNamespace:Name=N,Globals=G[,Routines=R]   [Namespaces] N=G[,R]
#   CreateMapGlobal:Namespace=N,Name=X,Database=D   [Map.N] Global_X=D
#   CreateMapPackage:Namespace=N,Name=P,Database=D  [Map.N] Package_P=D
# (CPF reference: RACS_createdatabase, RACS_createnamespace, RACS_CREATEMAPGLOBAL,
# RACS_createmappackage.)
function trim(s) { sub(/^[ \t\r]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function slash(d) { return (d ~ /\/$/) ? d : d "/" }
function add(section, key, value) {
    if ((section, key) in want) return
    want[section, key] = value
    order[++n] = section SUBSEP key
}
function action(line,    op, rest, parts, k, i, kv, eq, f) {
    op = tolower(trim(substr(line, 1, index(line, ":") - 1)))
    rest = substr(line, index(line, ":") + 1)
    k = split(rest, parts, ",")
    delete f
    for (i = 1; i <= k; i++) {
        eq = index(parts[i], "=")
        if (eq) f[tolower(trim(substr(parts[i], 1, eq - 1)))] = trim(substr(parts[i], eq + 1))
    }
    if (op == "createdatabase" && f["name"] != "" && f["directory"] != "") {
        system("mkdir -p '" slash(f["directory"]) "' && touch '" slash(f["directory"]) "IRIS.DAT'")
        act["[Databases]", toupper(f["name"])] = slash(f["directory"])
    } else if (op == "createnamespace" && f["name"] != "" && f["globals"] != "") {
        act["[Namespaces]", toupper(f["name"])] = toupper(f["globals"]) ((f["routines"] != "" && toupper(f["routines"]) != toupper(f["globals"])) ? "," toupper(f["routines"]) : "")
    } else if (op == "createmapglobal" && f["namespace"] != "" && f["name"] != "") {
        act["[Map." toupper(f["namespace"]) "]", "Global_" f["name"]] = toupper(f["database"])
    } else if (op == "createmappackage" && f["namespace"] != "" && f["name"] != "") {
        act["[Map." toupper(f["namespace"]) "]", "Package_" f["name"]] = toupper(f["database"])
    }
}
FNR == NR {
    line = trim($0)
    if (line ~ /^\[.*\]$/) { section = line; next }
    if (line == "" || line ~ /^;/ || section == "") next
    if (section == "[Actions]") { action(line); next }
    if (tolower(section) == "[actions]") next  # a lower-case [actions] is not the section
    eq = index(line, "=")
    if (eq == 0) next
    add(section, trim(substr(line, 1, eq - 1)), trim(substr(line, eq + 1)))
    next
}
{
    line = trim($0)
    if (line ~ /^\[.*\]$/) { flush(); current = line; seen[current] = 1; print; next }
    eq = index(line, "=")
    if (eq > 0) {
        key = trim(substr(line, 1, eq - 1))
        have[current, toupper(key)] = 1
        if ((current, key) in want) {
            print key "=" want[current, key]
            done[current, key] = 1
            next
        }
    }
    print
}
END {
    flush()
    # Actions that create something in sections the CPF does not have yet: one new section each.
    for (sk in act) {
        split(sk, p, SUBSEP)
        if (!(p[1] in seen)) newsec[p[1]] = 1
    }
    for (s in newsec) {
        print s
        for (sk in act) {
            split(sk, p, SUBSEP)
            if (p[1] == s) print p[2] "=" act[sk]
        }
    }
}
function flush(    i, parts, sk, p) {
    if (current == "") return
    for (i = 1; i <= n; i++) {
        split(order[i], parts, SUBSEP)
        if (parts[1] == current && !((parts[1], parts[2]) in done)) {
            print parts[2] "=" want[parts[1], parts[2]]
            done[parts[1], parts[2]] = 1
        }
    }
    for (sk in act) {
        split(sk, p, SUBSEP)
        if (p[1] == current && !((current, toupper(p[2])) in have)) {
            print p[2] "=" act[sk]
            have[current, toupper(p[2])] = 1
        }
    }
}
