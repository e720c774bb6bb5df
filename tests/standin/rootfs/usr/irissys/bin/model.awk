# The stand-in's model of an instance's configuration and data (test infrastructure only;
# busybox awk, loaded before session.awk). It imitates documented IRIS behaviour, nothing more;
# tests/standin/README.md lists each rule with its source.
#
# - The configuration is /usr/irissys/iris.cpf, at the top of the installation directory
#   ("The default CPF, iris.cpf, is located in the installation directory", CPF reference
#   RACS_cpf; ADOCK: the installation directory is /usr/irissys). Config.* class methods write it
#   at once: their default Flags are $$$CPFSave+$$$CPFWrite+$$$CPFActivate (class reference,
#   Config.CommonMultipleMethods / Config.CommonMapMethods).
# - [Databases] NAME=<directory with a trailing />; [Namespaces] NS=<globals db>[,<routines db>]
#   (a missing routines database defaults to the globals one, RACS_Namespace_n); [Map.NS]
#   Global_<name or prefix*>=DB and Package_<package>=DB (RACS_Package).
# - A namespace has ONE default globals and ONE default routines database; more data reaches it
#   by mappings ("Introduction to Namespaces and Databases"). Mapped content hides local content
#   of the same name. A package mapping maps the classes (and their generated code), not their
#   data ("Mapping a package ... maps the package definition, not its data", GOBJ_packages_mapping).
# - A database's content lives in its IRIS.DAT, so a copy of the file carries it (Data Integrity
#   Guide, "restore to a different system"). The stand-in keeps it as text records in the file:
#     STANDIN-CLASS <Class> [<storage global>]   a class definition (persistent: a table)
#     STANDIN-ROWS <global> <n>                 n rows of a table stored in <global>
#     STANDIN-SET <global>[(<subscripts>)] <value>   a global node set by a session
#     STANDIN-KILL <global>                     the global killed
#   Test fixtures write them at the start of the file, sessions append them; only the first and
#   the last MiB of a large file are read (a multi-GB fixture costs no full scan).

# ---------------------------------------------------------------- the CPF

function cpf_file() { return sysdir "/iris.cpf" }

function cpf_read(    l, path) {
    path = cpf_file()
    ncpf = 0
    while ((getline l < path) > 0) {
        sub(/\r$/, "", l)
        CPF[++ncpf] = l
    }
    close(path)
}

# Written to a temporary file and renamed over iris.cpf, so a session reading it meanwhile never
# sees half a file (IRIS serialises its configuration changes); cpf_set holds a lock around the
# read-modify-write, so two sessions changing it at once lose nothing.
function cpf_write(    i, path, tmp) {
    path = cpf_file()
    tmp = path ".standin-" PROCINFO_PID_STANDIN()
    printf "" > tmp
    for (i = 1; i <= ncpf; i++) print CPF[i] >> tmp
    close(tmp)
    system("mv -f " shq(tmp) " " shq(path))
}

function PROCINFO_PID_STANDIN(    cmd, pid) {
    cmd = "echo $PPID"
    cmd | getline pid
    close(cmd)
    return pid
}

function cpf_lock(    tries) {
    for (tries = 0; tries < 600; tries++) {
        if (system("mkdir " shq(cpf_file() ".lock") " 2>/dev/null") == 0) return
        system("sleep 0.05")
    }
}

function cpf_unlock() { system("rmdir " shq(cpf_file() ".lock") " 2>/dev/null") }

function cpf_section_at(section,    i) {
    for (i = 1; i <= ncpf; i++) if (toupper(CPF[i]) == "[" toupper(section) "]") return i
    return 0
}

# The line of KEY in SECTION (names compare case-blind), 0 when absent.
function cpf_line(section, key,    i, start, eq) {
    start = cpf_section_at(section)
    if (!start) return 0
    for (i = start + 1; i <= ncpf && CPF[i] !~ /^\[/; i++) {
        eq = index(CPF[i], "=")
        if (eq > 0 && toupper(substr(CPF[i], 1, eq - 1)) == toupper(key)) return i
    }
    return 0
}

function cpf_value(section, key,    at) {
    cpf_read()
    at = cpf_line(section, key)
    return at ? substr(CPF[at], index(CPF[at], "=") + 1) : ""
}

function cpf_set(section, key, value,    at, start, i, end) {
    cpf_lock()
    cpf_read()
    at = cpf_line(section, key)
    if (at) {
        CPF[at] = key "=" value
    } else {
        start = cpf_section_at(section)
        if (!start) {
            CPF[++ncpf] = "[" section "]"
            CPF[++ncpf] = key "=" value
        } else {
            end = start + 1
            while (end <= ncpf && CPF[end] !~ /^\[/) end++
            for (i = ncpf; i >= end; i--) CPF[i + 1] = CPF[i]
            CPF[end] = key "=" value
            ncpf++
        }
    }
    cpf_write()
    cpf_unlock()
}

# Keys of SECTION into keys[1..n] (as written); returns n.
function cpf_keys(section, keys,    start, i, n, eq) {
    cpf_read()
    n = 0
    start = cpf_section_at(section)
    if (!start) return 0
    for (i = start + 1; i <= ncpf && CPF[i] !~ /^\[/; i++) {
        eq = index(CPF[i], "=")
        if (eq > 0) keys[++n] = substr(CPF[i], 1, eq - 1)
    }
    return n
}

# A directory as IRIS writes it in iris.cpf: with a trailing slash (RACS_Database_n examples).
function with_slash(dir) { return (dir ~ /\/$/) ? dir : dir "/" }

function db_dir(name,    v) {
    v = cpf_value("Databases", name)
    sub(/,.*/, "", v)
    return v
}

# The configured name of the database in DIR, "" when none.
function db_name_of(dir,    keys, n, i) {
    dir = with_slash(dir)
    n = cpf_keys("Databases", keys)
    for (i = 1; i <= n; i++) if (db_dir(keys[i]) == dir) return toupper(keys[i])
    return ""
}

function ns_exists(ns) { return cpf_line_exists("Namespaces", ns) }

function cpf_line_exists(section, key) {
    cpf_read()
    return cpf_line(section, key) > 0
}

# "G" the namespace's default globals database, "R" its default routines database.
function ns_default(ns, which,    v, parts) {
    v = cpf_value("Namespaces", ns)
    split(v, parts, ",")
    if (which == "G" || parts[2] == "") return toupper(parts[1])
    return toupper(parts[2])
}

# The database a [Map.NS] entry of KIND ("Global" or "Package") gives NAME, "" when none: the
# most specific mapping wins (a package and its subpackages; a global name or prefix*).
function mapped_db(ns, kind, name,    keys, n, i, key, pat, best, bestlen, ok) {
    n = cpf_keys("Map." ns, keys)
    best = ""; bestlen = -1
    for (i = 1; i <= n; i++) {
        key = keys[i]
        if (toupper(substr(key, 1, length(kind) + 1)) != toupper(kind) "_") continue
        pat = substr(key, length(kind) + 2)
        if (kind == "Package") ok = (name == pat || substr(name, 1, length(pat) + 1) == pat ".")
        else if (pat ~ /\*$/) ok = (substr(name, 1, length(pat) - 1) == substr(pat, 1, length(pat) - 1))
        else ok = (name == pat)
        if (ok && length(pat) > bestlen) { best = cpf_value("Map." ns, key); bestlen = length(pat) }
    }
    return toupper(best)
}

function global_dir(ns, g,    db) {
    db = mapped_db(ns, "Global", g)
    if (db == "") db = ns_default(ns, "G")
    return db_dir(db)
}

# Class definitions are stored in the ^oddDEF global: a package mapping maps the package's
# part of it; a global mapping of oddDEF itself (a mistake) would take every class definition.
function class_dir(ns, cls,    db) {
    db = mapped_db(ns, "Package", cls)
    if (db == "") db = mapped_db(ns, "Global", "oddDEF")
    if (db == "") db = ns_default(ns, "R")
    return db_dir(db)
}

# ---------------------------------------------------------------- database content

function dat_file(dir) { return with_slash(dir) "IRIS.DAT" }

# The records of the database in DIR into recs[1..n]; returns n (0 for a missing file).
function db_records(dir, recs,    f, cmd, l, n) {
    f = dat_file(dir)
    n = 0
    if (system("test -f " shq(f)) != 0) return 0
    cmd = "f=" shq(f) "; s=$(stat -c %s \"$f\"); if [ \"$s\" -gt 2097152 ]; then " \
          "{ head -c 1048576 \"$f\"; echo; tail -c 1048576 \"$f\"; }; else cat \"$f\"; fi | " \
          "grep -a '^STANDIN-' 2>/dev/null"
    while ((cmd | getline l) > 0) recs[++n] = l
    close(cmd)
    return n
}

function db_append(dir, record,    f) {
    f = dat_file(dir)
    print record >> f
    close(f)
}

# Classes of the database: cls[name] = storage global ("" for a class that is no table).
function db_classes(dir, cls,    recs, n, i, f) {
    n = db_records(dir, recs)
    for (i = 1; i <= n; i++) {
        split(recs[i], f, " ")
        if (f[1] == "STANDIN-CLASS") cls[f[2]] = f[3]
    }
}

# Globals with data in the database: glo[name] = 1; and the code globals its classes live in.
function db_globals(dir, glo,    recs, n, i, f, g, hascls) {
    n = db_records(dir, recs)
    hascls = 0
    for (i = 1; i <= n; i++) {
        split(recs[i], f, " ")
        g = f[2]
        sub(/\(.*/, "", g)
        if (f[1] == "STANDIN-ROWS" || f[1] == "STANDIN-SET") glo[g] = 1
        else if (f[1] == "STANDIN-KILL") delete glo[g]
        else if (f[1] == "STANDIN-CLASS") hascls = 1
    }
    # Class definitions and compiled code are globals of the database too (%Library.Routine,
    # GetRoutineGlobals: ROUTINE, rINDEX, rMAC, rOBJ, oddDEF, ...); a directory listing shows them.
    if (hascls) { glo["oddDEF"] = 1; glo["oddCOM"] = 1; glo["rINDEXCLASS"] = 1; glo["rOBJ"] = 1 }
}

# Rows of the table stored in global G in the database; a KILL of G empties it.
function db_rows(dir, g,    recs, n, i, f, rows) {
    n = db_records(dir, recs)
    rows = 0
    for (i = 1; i <= n; i++) {
        split(recs[i], f, " ")
        if (f[2] != g) continue
        if (f[1] == "STANDIN-ROWS") rows += f[3]
        else if (f[1] == "STANDIN-KILL") rows = 0
    }
    return rows
}

# The value of a global node (the last SET since the last KILL of its global), "" when none.
function db_node(dir, ref,    recs, n, i, rest, g, v) {
    n = db_records(dir, recs)
    g = ref
    sub(/\(.*/, "", g)
    v = ""
    for (i = 1; i <= n; i++) {
        if (recs[i] == "STANDIN-KILL " g) { v = ""; continue }
        rest = substr(recs[i], 13)
        if (substr(recs[i], 1, 12) == "STANDIN-SET " && substr(rest, 1, length(ref) + 1) == ref " ")
            v = substr(rest, length(ref) + 2)
    }
    return v
}

function db_defined(dir, ref,    recs, n, i, g, d, rest) {
    n = db_records(dir, recs)
    g = ref
    sub(/\(.*/, "", g)
    d = 0
    for (i = 1; i <= n; i++) {
        if (recs[i] == "STANDIN-KILL " g) { d = 0; continue }
        rest = substr(recs[i], 13)
        if (substr(recs[i], 1, 12) == "STANDIN-SET " && (substr(rest, 1, length(ref) + 1) == ref " " \
            || substr(rest, 1, length(ref) + 1) == ref "(" || (ref !~ /\(/ && index(rest, g "(") == 1))) d = 1
        if (substr(recs[i], 1, 13) == "STANDIN-ROWS " && (g == ref) && substr(rest, 2, length(g) + 1) == g " ") d = 1
    }
    return d
}

# ---------------------------------------------------------------- mounting
# SYS.Database MountDatabase of a mounted database returns an error status (IPM treats
# $$$AlreadyMounted after Config.Databases.Create as success, intersystems/ipm Utils/Build.cls);
# a configured database mounts when it is first accessed (CPF reference, [Databases]); an
# explicitly dismounted one stays dismounted until it is mounted again.

# IRIS keeps its mount table in memory and changes it atomically. The stand-in keeps one state
# file per database in mgr/.standin/mount/ ("mounted DIR" or "dismounted DIR"; none: never
# touched since the start), so that no change needs a lock:
# - a mount or dismount writes a new file and renames it over the old one (rename is atomic,
#   POSIX rename()): a reader sees the old state or the new one;
# - a first access mounts a configured database by creating its file only if it does not exist
#   (noclobber, O_EXCL; with `echo`, a regular built-in: a failed redirection of a special
#   built-in such as `:` exits a non-interactive shell, POSIX 2.8.1), so a dismount that came
#   first wins and the access gets <DIRECTORY>: never a database dismounted behind a mount's back.
# A reader reads the file in the session itself (no process).
function mount_file(dir) {
    dir = with_slash(dir)
    gsub(/%/, "%25", dir)
    gsub(/\//, "%2F", dir)
    return standin_dir "/mount/" dir
}

# "mounted", "dismounted", or "" (not touched since the start).
function mount_read(dir,    f, line) {
    f = mount_file(dir)
    line = ""
    if ((getline line < f) <= 0) line = ""
    close(f)
    sub(/ .*/, "", line)
    return line
}

# Write a database's state (rename over the old file); for a mount, with the check that
# irisowner owns its IRIS.DAT first (owner_check: that file's path). 0 when done, 5 when the
# owner check failed, another code when the state could not be written.
function mount_write(dir, state, owner_check,    f, cmd) {
    f = mount_file(dir)
    cmd = "t=" shq(f) ".$$; "
    if (owner_check != "") cmd = cmd "[ \"$(stat -c %u " shq(owner_check) " 2>/dev/null)\" = 51773 ] || exit 5; "
    cmd = cmd "echo " shq(state " " with_slash(dir)) " >\"$t\" && mv -f \"$t\" " shq(f)
    return system(cmd)
}

function is_mounted(dir) { return mount_read(dir) == "mounted" }

# Access to a database through a namespace: mounts a configured one on first access; "" or an
# error text (<DIRECTORY> for a dismounted database, as IRIS reports an unavailable one).
function db_access(dir,    state) {
    if (dir == "") return "<DIRECTORY> (no such database)"
    state = mount_read(dir)
    if (state == "") {
        system("set -C; echo " shq("mounted " with_slash(dir)) " >" shq(mount_file(dir)) " 2>/dev/null")
        state = mount_read(dir)  # another session's mount or dismount may have come first
    }
    if (state == "dismounted") return "<DIRECTORY> " with_slash(dir) " is dismounted"
    return ""
}

# ---------------------------------------------------------------- what a namespace sees

# SQL names of a class: its package's dots become underscores in the schema ("A.B.C" ->
# schema A_B, table C), the default class-to-table projection.
function sql_schema(cls,    p) {
    p = cls
    sub(/\.[^.]*$/, "", p)
    gsub(/\./, "_", p)
    return p
}

function sql_table(cls,    t) {
    t = cls
    sub(/.*\./, "", t)
    return t
}

# Tables visible in NS: persistent classes reachable through the namespace's routines database
# or a package mapping, each with its rows read through the namespace's global mappings.
# Fills vis[cls] = storage global; returns the count.
function ns_tables(ns, vis,    cand, c, n, keys, k, i, db, dir, tmp) {
    delete cand
    db_classes(db_dir(ns_default(ns, "R")), cand)
    k = cpf_keys("Map." ns, keys)
    for (i = 1; i <= k; i++) {
        if (toupper(substr(keys[i], 1, 8)) != "PACKAGE_" && toupper(keys[i]) != "GLOBAL_ODDDEF") continue
        delete tmp
        db_classes(db_dir(cpf_value("Map." ns, keys[i])), tmp)
        for (c in tmp) cand[c] = tmp[c]
    }
    n = 0
    for (c in cand) {
        if (cand[c] == "" || substr(c, 1, 1) == "%") continue
        dir = class_dir(ns, c)
        delete tmp
        db_classes(dir, tmp)
        if (!(c in tmp)) continue
        vis[c] = tmp[c]
        n++
    }
    return n
}

function class_visible(ns, cls,    tmp) {
    if (substr(cls, 1, 1) == "%") return 1
    db_classes(class_dir(ns, cls), tmp)
    return (cls in tmp)
}
