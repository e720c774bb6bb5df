# Stand-in CPF merge (test infrastructure only): apply a merge file's settings to iris.cpf.
# Usage: awk -f cpfmerge.awk MERGE_FILE IRIS_CPF > NEW_CPF
# Settings of sections that iris.cpf has are set (replaced or added); other sections and
# [Actions] are not written (a misspelt section is silently ignored, as observed on real IRIS).
function trim(s) { sub(/^[ \t\r]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
FNR == NR {
    line = trim($0)
    if (line ~ /^\[.*\]$/) { section = line; next }
    if (line == "" || line ~ /^;/ || section == "" || tolower(section) == "[actions]") next
    eq = index(line, "=")
    if (eq == 0) next
    key = trim(substr(line, 1, eq - 1))
    want[section, key] = trim(substr(line, eq + 1))
    order[++n] = section SUBSEP key
    next
}
{
    line = trim($0)
    if (line ~ /^\[.*\]$/) { flush(); current = line; print; next }
    eq = index(line, "=")
    if (eq > 0 && ((current, trim(substr(line, 1, eq - 1))) in want)) {
        key = trim(substr(line, 1, eq - 1))
        print key "=" want[current, key]
        done[current, key] = 1
        next
    }
    print
}
END { flush() }
function flush(    i, parts) {
    if (current == "") return
    for (i = 1; i <= n; i++) {
        split(order[i], parts, SUBSEP)
        if (parts[1] == current && !((parts[1], parts[2]) in done)) {
            print parts[2] "=" want[parts[1], parts[2]]
            done[parts[1], parts[2]] = 1
        }
    }
}
