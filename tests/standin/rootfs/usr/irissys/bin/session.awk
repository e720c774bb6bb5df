# Stand-in for a direct-mode `iris session` (test infrastructure only; busybox awk).
# A deliberately tiny model of ObjectScript: enough to drive the product's setup scripts,
# marker-based success checks, error triggers, password expiry and user creation.
# The rules are documented in tests/standin/README.md; anything unknown is ignored.
#
# Variables passed with -v: ns, host, version, users_file, expired_file, standin_dir (the
# .standin folder), ipm_home (the namespace IPM is installed in; empty when the image has no IPM).
#
# Statuses are modelled as in IRIS: "1" is OK, an error %Status is "0 ERROR #nnnn: text" (its
# numeric value is 0, so `Throw:'sc` and `If 'sc` work). An evaluation error (a <COMMAND> or
# <CLASS DOES NOT EXIST>) is held in ev_err and raised by the command that evaluated it.

BEGIN {
    OK = 0; ERR = 1; HALT = 2; SKIP = 3; QUIT = 4
    zerror = ""
    test = 1
    col = 0
    try_depth = 0
    caught = ""
    cur_user = ""
    exit_code = 0
    finished = 0
    ev_err = ""
    call_ctx = ""
    zv = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) " version " (Build 123U) Stand-in"
    predefined["_SYSTEM"] = 1; predefined["SuperUser"] = 1; predefined["Admin"] = 1
    load_users()
    expired = (system("test -f " shq(expired_file)) == 0)
    printf "\nNode: %s, Instance: IRIS\n\n", host
}

{
    line = $0
    sub(/\r$/, "", line)
    prompt()
    sub(/^[ \t]+/, "", line)
    if (line == "" || substr(line, 1, 1) == ";" || substr(line, 1, 2) == "//") next
    if (exec_stmts(line) == HALT) finish(0)
}

END {
    if (!finished) { if (col > 0) printf "\n"; finished = 1 }
    stats_flush()
    exit exit_code
}

# ---------------------------------------------------------------- counters (SYS.Stats.*)
# Each session appends its counts as one line (an O_APPEND write of a short line is atomic, so
# concurrent sessions never lose counts); a sample adds up the lines and this session's own.
function stats_flush() {
    if (!(stat_refs || stat_updates || stat_commands)) return
    printf "%d %d %d\n", stat_refs, stat_updates, stat_commands >> (standin_dir "/stats")
    close(standin_dir "/stats")
    stat_refs = stat_updates = stat_commands = 0
}

function stats_sample(kind,    h, id, l, p, f) {
    h = new_obj(kind); id = obj_id(h)
    STATS[id, 1] = stat_refs; STATS[id, 2] = stat_updates; STATS[id, 3] = stat_commands
    f = standin_dir "/stats"
    while ((getline l < f) > 0) {
        split(l, p, " ")
        STATS[id, 1] += p[1]; STATS[id, 2] += p[2]; STATS[id, 3] += p[3]
    }
    close(f)
    return h
}

# ---------------------------------------------------------------- output

function prompt() {
    if (col > 0) printf "\n"
    printf "%s>", ns
    col = length(ns) + 1
}

function out(s) {
    printf "%s", s
    col += length(s)
}

function newline() {
    printf "\n"
    col = 0
}

function finish(code) {
    if (col > 0) printf "\n"
    col = 0
    finished = 1
    exit_code = code
    exit code
}

# An error: printed on its own line and stored in $ZERROR (inside Try only stored and caught).
function raise(e) {
    # A thrown status exception shows its status text (ERROR #nnnn: ...); system errors a location.
    if (e !~ /^ERROR #/) e = e "^StandIn"
    zerror = e
    if (try_depth > 0) { caught = e; return ERR }
    if (col > 0) newline()
    out(e)
    newline()
    return ERR
}

# ---------------------------------------------------------------- helpers

function shq(s) {
    gsub(/'/, "'\\''", s)
    return "'" s "'"
}

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

function sha(p,    cmd, res, f) {
    cmd = "printf '%s' " shq(p) " | sha256sum"
    res = ""
    cmd | getline res
    close(cmd)
    split(res, f, " ")
    return f[1]
}

function load_users(    l, f) {
    while ((getline l < users_file) > 0) {
        split(l, f, " ")
        if (f[1] != "") users[f[1]] = f[2]
    }
    close(users_file)
}

function save_users(    u, tmp) {
    tmp = users_file ".tmp"
    printf "" > tmp
    for (u in users) print u " " users[u] >> tmp
    close(tmp)
    system("mv -f " shq(tmp) " " shq(users_file))
}

function set_password(u, p) {
    if (u == "") return
    users[u] = sha(p)
    save_users()
}

function status_error(text) { return "0 " text }

function is_error_status(v) { return (v ~ /^0 /) }

function file_exists(path) { return (system("test -e " shq(path)) == 0) }

function file_has(path, text) { return (system("grep -rqF " shq(text) " " shq(path) " 2>/dev/null") == 0) }

function record(name, line) {
    print line >> (standin_dir "/" name)
    close(standin_dir "/" name)
}

# IPM >= 0.9 lives only in the namespace it was installed in unless mapped with
# `zpm "enable -map -globally"` (intersystems/ipm README); containers.intersystems.com images
# ship without it (iris-facts.md "IPM").
function ipm_here() {
    if (ipm_home == "") return 0
    if (toupper(ns) == toupper(ipm_home)) return 1
    return file_exists(standin_dir "/ipm-mapped")
}

# Registries are per namespace since IPM 0.9, with none by default; `enable -map -globally`
# maps the IPM code only, `-repos` (with -map) also the repository settings, and `enable
# -community` both plus the community registry (intersystems/ipm README and Main.cls). The
# image's own IPM namespace has its registry.
function ipm_repos_here() {
    if (toupper(ns) == toupper(ipm_home)) return 1
    return file_exists(standin_dir "/ipm-repos-mapped")
}

function ipm_command(cmd, via) {
    if (cmd ~ /^[ \t]*install[ \t]/ && !ipm_repos_here()) {
        out("ERROR! No repositories are configured and enabled in this namespace."); newline()
        return status_error("ERROR #5001: No repositories are configured and enabled in this namespace.")
    }
    if (index(cmd, "standin-missing")) return status_error("ERROR #5001: Could not find package standin-missing in repositories")
    if (cmd ~ /enable/) {
        if ((cmd ~ /-map/ || cmd ~ /-m( |$)/) && (cmd ~ /-globally/ || cmd ~ /-g( |$)/)) { printf "" > (standin_dir "/ipm-mapped"); close(standin_dir "/ipm-mapped") }
        if (cmd ~ /-community/ || ((cmd ~ /-repos/ || cmd ~ /-r( |$)/) && cmd ~ /-map/)) {
            printf "" > (standin_dir "/ipm-mapped"); close(standin_dir "/ipm-mapped")
            printf "" > (standin_dir "/ipm-repos-mapped"); close(standin_dir "/ipm-repos-mapped")
        }
    }
    record("ipm", ns ": " via cmd)
    return 1
}

# The zpm command prints an error as "ERROR! ..." and does not raise it (IPM Main.cls,
# DisplayError).
function ipm_shell(cmd) { ipm_command(cmd, "zpm ") }

# SYS.Container methods print an error and terminate the calling process with exit status 1,
# which no Try/Catch contains, unless SYS_CONTAINER_CONTINUE_ON_ERROR=1 (class reference).
function sys_container_fail(text) {
    if (col > 0) newline()
    out("ERROR #5001: " text)
    newline()
    if (ENVIRON["SYS_CONTAINER_CONTINUE_ON_ERROR"] != "1") finish(1)
    return ""
}

# $SYSTEM.SQL.Schema.ImportDDL(infile, logfile, dialect): no return value (class reference
# 2024.1). Statements start on a new line and end with a GO line (SQL guide, "Import File
# Format"); one that fails is skipped and reported in the errors log, which is created even when
# nothing is written to it (default <file>_Errors.log beside the input). The stand-in runs no
# SQL: a statement containing STANDIN-SQL-ERROR fails, every other one is recorded as executed.
function import_ddl(infile, logfile,    l, stmt, n, base) {
    if (logfile == "") {
        base = infile
        sub(/\.[^.\/]*$/, "", base)
        logfile = base "_Errors.log"
    }
    printf "" > logfile
    out("Importing SQL Statements from file: " infile); newline()
    out("Recording any errors to principal device and log file: " logfile); newline()
    if (!file_exists(infile)) {
        print "ERROR: cannot open file " infile >> logfile
        close(logfile)
        return ""
    }
    stmt = ""; n = 0
    while ((getline l < infile) > 0) {
        sub(/\r$/, "", l)
        if (toupper(trim(l)) == "GO") { n = ddl_statement(stmt, n, logfile); stmt = ""; continue }
        stmt = stmt (stmt == "" ? "" : "\n") l
    }
    close(infile)
    if (trim(stmt) != "") n = ddl_statement(stmt, n, logfile)
    close(logfile)
    return ""
}

function ddl_statement(stmt, n, logfile) {
    if (trim(stmt) == "") return n
    n++
    out("SQL statement to process (number " n "):"); newline()
    if (index(stmt, "STANDIN-SQL-ERROR")) {
        out("  ERROR: SQLCODE = -1"); newline()
        print "Error in SQL statement (number " n "): SQLCODE = -1, Invalid SQL statement" >> logfile
        print stmt >> logfile
    } else {
        record("sql-executed", ns ": " stmt)
        sql_model(stmt)
        out("  DONE"); newline()
    }
    return n
}

# $SYSTEM.OBJ.Load/LoadDir return a %Status; a missing file or one containing
# STANDIN-LOAD-ERROR fails to compile.
function obj_load(path, isdir) {
    if (!file_exists(path)) return status_error("ERROR #5012: File '" path "' does not exist")
    if (file_has(path, "STANDIN-LOAD-ERROR")) return status_error("ERROR #5475: Error compiling routine: " path)
    record("loaded", ns ": " path)
    load_classes(path)
    return 1
}

# The classes in the loaded .cls files (a "Class Name" line each) are saved where the namespace
# keeps them: its routines database, or the database a package mapping names for their package.
# A class extending %Persistent is a table, with its data in a global named after the class (the
# default storage ^Package.ClassD, GOBJ_persobjintro_globals_standard). The class definition
# (its source) is kept with it, as STANDIN-SRC records: the %UnitTest model runs its methods.
function load_classes(path,    cmd, l, f, cls, dir, persistent, x) {
    cmd = "find " shq(path) " -name '*.cls' -type f 2>/dev/null | sort | while read -r f; do " \
          "awk '/^Class [A-Za-z%]/ { p = ($0 ~ /%Persistent/) ? 1 : 0; print $2 \"\\t\" p \"\\t\" FILENAME }' \"$f\"; done"
    while ((cmd | getline l) > 0) {
        split(l, f, "\t")
        cls = f[1]
        dir = class_dir(ns, cls)
        if (db_access(dir) != "") continue
        db_append(dir, "STANDIN-CLASS " cls (f[2] == "1" ? " " cls "D" : ""))
        save_source(dir, cls, f[3])
    }
    close(cmd)
    cmd = "find " shq(path) " -name '*.xml' -type f 2>/dev/null | sort"
    while ((cmd | getline x) > 0) load_export(x)
    close(cmd)
}

function save_source(dir, cls, file,    l, text) {
    text = ""
    while ((getline l < file) > 0) {
        sub(/\r$/, "", l)
        text = text (text == "" ? "" : "\n") l
    }
    close(file)
    save_text(dir, cls, text)
}

# A class's source lines as STANDIN-SRC records (numbered from 1, as the model reads them).
function save_text(dir, cls, source,    lines, n, i, text) {
    if (source == "") return
    n = split(source, lines, "\n")
    text = ""
    for (i = 1; i <= n; i++) text = text (i > 1 ? "\n" : "") "STANDIN-SRC " cls " " i " " lines[i]
    db_append(dir, text)
}

# An XML export: $SYSTEM.OBJ.Load loads XML exports and UDL .cls files alike (IPM loads both
# kinds of resource file with it: intersystems/ipm ResourceProcessor/Default/Document.cls). Each <Class> of it is kept as the UDL source the same class has (Class ... Extends,
# Method name(spec) As type, { body }), so the %UnitTest model runs it as it runs a .cls and an
# assert's offset counts the same (the body two lines below the signature). Read in the shape
# IRIS writes, one element per line (InterSystems' own exports in intersystems/ipm, e.g.
# tests/integration_tests/Test/PM/Integration/_data/simple-app/cls/TSL/HTTPStatusTest.xml):
# <Class name="P.C">, <Super>S</Super>, <Method name="M">, <ClassMethod>1</ClassMethod>,
# <FormalSpec>, <ReturnType>, <Implementation><![CDATA[ body lines ]]></Implementation>.
function load_export(file,    l, cls, sup, members, meth, cm, spec, ret, inbody, dir, v) {
    cls = ""; inbody = 0
    while ((getline l < file) > 0) {
        sub(/\r$/, "", l)
        if (inbody) {
            if (index(l, "]]></Implementation>") == 1) { inbody = 0; members = members "\n}"; continue }
            members = members "\n" l
            continue
        }
        if (match(l, /^<Class name="[^"]*"/)) { cls = substr(l, 14, RLENGTH - 14); sup = ""; members = ""; continue }
        if (cls == "") continue
        if ((v = xml_value(l, "Super")) != "") sup = v
        else if (match(l, /^<Method name="[^"]*"/)) { meth = substr(l, 15, RLENGTH - 15); cm = 0; spec = ""; ret = "" }
        else if (xml_value(l, "ClassMethod") == "1") cm = 1
        else if ((v = xml_value(l, "FormalSpec")) != "") spec = v
        else if ((v = xml_value(l, "ReturnType")) != "") ret = v
        else if (index(l, "<Implementation><![CDATA[") == 1) {
            members = members "\n\n" (cm ? "ClassMethod " : "Method ") meth "(" spec ")" (ret != "" ? " As " ret : "") "\n{"
            inbody = 1
        } else if (index(l, "</Class>") == 1) {
            dir = class_dir(ns, cls)
            if (db_access(dir) == "") {
                db_append(dir, "STANDIN-CLASS " cls (sup ~ /%Persistent/ ? " " cls "D" : ""))
                save_text(dir, cls, "Class " cls (sup == "" ? "" : index(sup, ",") ? " Extends (" sup ")" : " Extends " sup) "\n{" members "\n\n}")
            }
            cls = ""
        }
    }
    close(file)
}

# The text of <tag>text</tag> on a line, XML entities resolved, or of <tag><![CDATA[text]]></tag>
# (IRIS writes a FormalSpec with "&" that way: intersystems/ipm's DebugResourceProcessor.xml);
# "" when the line is not that.
function xml_value(l, tag,    open, v) {
    open = "<" tag ">"
    if (index(l, open) != 1 || !index(l, "</" tag ">")) return ""
    v = substr(l, length(open) + 1, index(l, "</" tag ">") - length(open) - 1)
    if (substr(v, 1, 9) == "<![CDATA[" && substr(v, length(v) - 2) == "]]>") return substr(v, 10, length(v) - 12)
    gsub(/&lt;/, "<", v); gsub(/&gt;/, ">", v); gsub(/&quot;/, "\"", v); gsub(/&apos;/, "'", v)
    gsub(/&amp;/, "\\&", v)
    return v
}

function unexpire() {
    expired = 0
    system("rm -f " shq(expired_file))
}

function login_ok(u, p) {
    if (!(u in users)) return 0
    if (users[u] != sha(p)) return 0
    if (expired && (u in predefined)) return 0
    return 1
}

# Position after the argument starting at pos: the first space/tab outside a string literal
# and outside (), {} nesting; n+1 at the end of s.
function scan_arg(s, pos,    n, c, depth, instr) {
    n = length(s); depth = 0; instr = 0
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(" || c == "{") {
            depth++
        } else if (c == ")" || c == "}") {
            depth--
        } else if ((c == " " || c == "\t") && depth <= 0) {
            break
        }
        pos++
    }
    return pos
}

# Split s at separator sep (one character) outside strings and nesting; returns the count.
function split_top(s, arr, sep,    n, i, c, depth, instr, start, k) {
    n = length(s); depth = 0; instr = 0; start = 1; k = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(" || c == "{") {
            depth++
        } else if (c == ")" || c == "}") {
            depth--
        } else if (c == sep && depth == 0) {
            arr[++k] = substr(s, start, i - start)
            start = i + 1
        }
    }
    arr[++k] = substr(s, start)
    return k
}

# Index of the first top-level "=" (outside strings and nesting), 0 when none.
function top_eq(s,    n, i, c, depth, instr) {
    n = length(s); depth = 0; instr = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (instr) {
            if (c == "\"") instr = 0
        } else if (c == "\"") {
            instr = 1
        } else if (c == "(") {
            depth++
        } else if (c == ")") {
            depth--
        } else if (c == "=" && depth == 0) {
            return i
        }
    }
    return 0
}

# The text between the "(" that ends prefix match and the final ")" of t.
function call_args(t, plen) {
    return substr(t, plen + 1, length(t) - plen - 1)
}

# ---------------------------------------------------------------- variables and globals

# The canonical name of a local variable reference: name, or name(sub,...) with the subscripts
# evaluated (strings quoted, numbers bare), so p("Directory") and p(k) with k="Directory" agree.
function lkey(ref,    p, name, inner, parts, k, i, v, key) {
    ref = trim(ref)
    p = index(ref, "(")
    if (p == 0) return ref
    name = substr(ref, 1, p - 1)
    inner = substr(ref, p + 1, length(ref) - p - 1)
    k = split_top(inner, parts, ",")
    key = name "("
    for (i = 1; i <= k; i++) {
        v = eval_expr(parts[i])
        key = key (i > 1 ? "," : "") ((v ~ /^-?[0-9]+(\.[0-9]+)?$/) ? v + 0 : "\"" v "\"")
    }
    return key ")"
}

function is_lref(t) { return (t ~ /^[A-Za-z%][A-Za-z0-9]*(\(.*\))?$/) }

# A global reference ^name(subs), ^|"env"|name(subs) or ^["env"]name(subs): sets G_DIR (the
# database directory that holds it, through the namespace's mappings unless an extended reference
# names a directory, "^^dir") and G_REF (name(subs), subscripts evaluated). Returns 1 when valid.
function gref(t,    rest, end, env, key) {
    G_DIR = ""; G_REF = ""; G_NAME = ""
    if (substr(t, 1, 1) != "^") return 0
    rest = substr(t, 2)
    env = ""
    if (substr(rest, 1, 1) == "|" || substr(rest, 1, 1) == "[") {
        end = (substr(rest, 1, 1) == "|") ? index(substr(rest, 2), "|") : index(rest, "]") - 1
        if (end <= 0) return 0
        env = eval_expr(substr(rest, 2, end - 1))
        rest = substr(rest, end + 2)
    }
    key = lkey(rest)
    G_REF = key
    G_NAME = key
    sub(/\(.*/, "", G_NAME)
    if (env == "") G_DIR = global_dir(ns, G_NAME)
    else if (substr(env, 1, 2) == "^^") G_DIR = with_slash(substr(env, 3))
    else G_DIR = global_dir(toupper(env), G_NAME)
    return 1
}

# The local array keys below NAME at the first level: out[1..n], sorted; returns n.
function local_subs(name,    k, s, n, seen, out2) {
    n = 0
    for (k in vars) {
        if (substr(k, 1, length(name) + 1) != name "(") continue
        s = substr(k, length(name) + 2)
        s = (substr(s, 1, 1) == "\"") ? substr(s, 2, index(substr(s, 2), "\"") - 1) : s
        sub(/[,)].*/, "", s)
        if (!(s in seen)) { seen[s] = 1; out2[++n] = s }
    }
    sort_list(out2, n)
    for (k = 1; k <= n; k++) LIST[k] = out2[k]
    return n
}

function sort_list(a, n,    i, j, v) {
    for (i = 2; i <= n; i++) {
        v = a[i]; j = i - 1
        while (j > 0 && a[j] > v) { a[j + 1] = a[j]; j-- }
        a[j + 1] = v
    }
}

# $ORDER(ref): the next subscript after the last one in ref, "" at the end. Modelled for local
# arrays and for ^oddDEF (the classes of a database, by an extended reference to its directory).
function order_next(ref,    inner, p, name, last, n, i, tmp, c, list) {
    ref = trim(ref)
    p = index(ref, "(")
    if (p == 0) return ""
    if (substr(ref, 1, 1) == "^") {
        if (!gref(ref) || G_NAME != "oddDEF") return ""
        last = substr(G_REF, 8, length(G_REF) - 8)
        if (substr(last, 1, 1) == "\"") last = substr(last, 2, length(last) - 2)
        db_classes(G_DIR, tmp)
        n = 0
        for (c in tmp) list[++n] = c
        sort_list(list, n)
        for (i = 1; i <= n; i++) if (list[i] > last || last == "") return list[i]
        return ""
    }
    name = substr(ref, 1, p - 1)
    last = eval_expr(substr(ref, p + 1, length(ref) - p - 1))
    n = local_subs(name)
    for (i = 1; i <= n; i++) if (LIST[i] > last || last == "") return LIST[i]
    return ""
}

function set_global(ref, value) {
    if (!gref(ref)) return
    if (db_access(G_DIR) != "") { ev_err = db_access(G_DIR); return }
    db_append(G_DIR, "STANDIN-SET " G_REF " " value)
    stat_refs++; stat_updates++
}

function kill_ref(ref,    k, stem, v) {
    ref = trim(ref)
    if (substr(ref, 1, 1) == "^") {
        if (gref(ref) && db_access(G_DIR) == "") { db_append(G_DIR, "STANDIN-KILL " G_NAME); stat_refs++; stat_updates++ }
        return
    }
    k = lkey(ref)
    stem = (k ~ /\)$/) ? substr(k, 1, length(k) - 1) "," : k "("
    for (v in vars) if (v == k || substr(v, 1, length(stem)) == stem) delete vars[v]
}

# ---------------------------------------------------------------- objects
# Object references are strings "\002<kind>:<id>" in variables; their members are dispatched here.

function new_obj(kind) { nobj++; return "\002" kind ":" nobj }

function obj_kind(h) { return substr(h, 2, index(h, ":") - 2) }

function obj_id(h) { return substr(h, index(h, ":") + 1) }

# A result set from rows already filled in RS_* for id (SQLCODE, message, columns, rows).
function new_result(code, message,    h, id) {
    h = new_obj("RS"); id = obj_id(h)
    RS_CODE[id] = code; RS_MSG[id] = message; RS_POS[id] = 0; RS_N[id] = 0; RS_NC[id] = 0
    CUR_RS = id
    return h
}

function rs_add(id, values,    parts, k, i) {
    RS_N[id]++
    k = split(values, parts, "\001")
    for (i = 1; i <= k; i++) RS_VAL[id, RS_N[id], i] = parts[i]
}

function rs_cols(id, names,    parts, k, i) {
    k = split(names, parts, ",")
    RS_NC[id] = k
    for (i = 1; i <= k; i++) RS_COL[id, toupper(parts[i])] = i
}

function obj_member(h, member,    kind, id, u, a, k, name, n) {
    kind = obj_kind(h); id = obj_id(h); u = toupper(member)
    if (kind == "RS") {
        if (u ~ /^%NEXT\(/) { if (RS_POS[id] < RS_N[id]) { RS_POS[id]++; return 1 } return 0 }
        if (u ~ /^%GETDATA\(/) return RS_VAL[id, RS_POS[id], eval_expr(call_args(member, 9)) + 0]
        if (u ~ /^%GET\(/) {
            name = toupper(eval_expr(call_args(member, 5)))
            return (id SUBSEP name) in RS_COL ? RS_VAL[id, RS_POS[id], RS_COL[id, name]] : ""
        }
        if (u == "%SQLCODE") return RS_CODE[id]
        if (u == "%MESSAGE") return RS_MSG[id]
        if (u == "%ROWCOUNT") return RS_N[id]
        return ""
    }
    if (kind == "ST") {
        if (u ~ /^%PREPARECLASSQUERY\(/) {
            k = split_top(call_args(member, 19), a, ",")
            ST_Q[id] = toupper(eval_expr(a[1]) ":" eval_expr(a[2]))
            return (ST_Q[id] == "%SYS.GLOBALQUERY:DIRECTORYLIST") ? 1 : status_error("ERROR #5540: (stand-in) class query not modelled: " ST_Q[id])
        }
        if (u ~ /^%PREPARE\(/) { ST_SQL[id] = eval_expr(call_args(member, 9)); ST_Q[id] = ""; return 1 }
        if (u ~ /^%EXECUTE\(/) {
            k = split_top(call_args(member, 9), a, ",")
            if (ST_Q[id] == "%SYS.GLOBALQUERY:DIRECTORYLIST") return directory_list(eval_expr(a[1]))
            return sql_run(ST_SQL[id])
        }
        return 1
    }
    if (kind == "GS" || kind == "RT") {
        if (u == "REFLOCAL") return STATS[id, 1]
        if (u == "REFUPDATELOCAL" || u == "JRNENTRIES") return STATS[id, 2]
        if (u == "RTNCOMMANDS" || u == "RTNLINES") return STATS[id, 3]
        return 0
    }
    if (kind == "DB") {
        if (u == "MOUNTED") return is_mounted(id)
        if (u == "DIRECTORY") return id
        if (u == "READONLY" || u == "READONLYMOUNTED") return 0
        return 1
    }
    return ""
}

# %SYS.GlobalQuery:DirectoryList(Directory, ...): one row per global of the database, Name first
# (class reference, %SYS.GlobalQuery); it lists the code globals of its classes too.
function directory_list(dir,    h, id, err, glo, g, n, list, i) {
    err = db_access(dir)
    if (err != "") return new_result(-400, err)
    h = new_result(0, ""); id = obj_id(h)
    rs_cols(id, "Name")
    db_globals(dir, glo)
    n = 0
    for (g in glo) list[++n] = g
    sort_list(list, n)
    for (i = 1; i <= n; i++) rs_add(id, list[i])
    return h
}

# ---------------------------------------------------------------- SQL
# Only what iris-envs and its tests send. Tables are persistent classes (see model.awk); a
# statement the model does not know is SQLCODE -1, never a silent success.

# Quoted identifiers ("Demo"."Orders", quotes doubled inside) or plain ones (Demo.Orders): the
# class the table projects, "" when NS sees no such table.
function table_class(ns, name,    s, t, vis, c, n) {
    name = trim(name)
    if (name ~ /^"/) {
        match(name, /^"([^"]|"")*"/)
        s = substr(name, 2, RLENGTH - 2); gsub(/""/, "\"", s)
        t = substr(name, RLENGTH + 2)
        t = substr(t, 2, length(t) - 2); gsub(/""/, "\"", t)
    } else {
        s = name; sub(/\.[^.]*$/, "", s)
        t = name; sub(/.*\./, "", t)
    }
    n = ns_tables(ns, vis)
    for (c in vis) if (toupper(sql_schema(c)) == toupper(s) && toupper(sql_table(c)) == toupper(t)) return c
    return ""
}

function sql_run(sql,    u, h, id, vis, c, n, list, i, m, cls, g, dir, err, rest) {
    u = toupper(trim(sql))
    gsub(/[ \t\n]+/, " ", u)
    if (u ~ / FROM %UNITTEST_RESULT\./) return ut_sql(sql)
    if (u ~ /^SELECT TABLE_SCHEMA, ?TABLE_NAME FROM INFORMATION_SCHEMA\.TABLES/) {
        # Only the documented negation NOT (col %STARTSWITH 'x') is modelled (RSQL_startswith);
        # the form col NOT %STARTSWITH is not documented.
        if (u ~ /[A-Z_]+ NOT %STARTSWITH/) return new_result(-1, "(stand-in) undocumented form 'col NOT %STARTSWITH': use NOT (col %STARTSWITH 'x')")
        h = new_result(0, ""); id = obj_id(h)
        rs_cols(id, "TABLE_SCHEMA,TABLE_NAME")
        n = ns_tables(ns, vis)
        n = 0
        for (c in vis) list[++n] = sql_schema(c) "\001" sql_table(c)
        sort_list(list, n)
        for (i = 1; i <= n; i++) rs_add(id, list[i])
        return h
    }
    if (match(u, /^SELECT COUNT\(\*\)( AS [A-Z0-9_]+)? FROM /)) {
        rest = trim(substr(trim(sql), RLENGTH + 1))
        cls = table_class(ns, rest)
        if (cls == "") return new_result(-30, "Table '" rest "' not found")
        n = ns_tables(ns, vis)
        g = vis[cls]
        dir = global_dir(ns, g)
        err = db_access(dir)
        if (err != "") return new_result(-400, err)
        h = new_result(0, ""); id = obj_id(h)
        rs_cols(id, "CNT")
        rs_add(id, db_rows(dir, g))
        return h
    }
    if (u ~ /^CREATE TABLE /) return sql_model_result(sql)
    if (u ~ /^INSERT INTO /) return sql_model_result(sql)
    return new_result(-1, "(stand-in) SQL not modelled: " substr(trim(sql), 1, 60))
}

function sql_model_result(sql,    err) {
    err = sql_model(sql)
    return (err == "") ? new_result(0, "") : new_result(-30, err)
}

# CREATE TABLE S.T: a persistent class S.T in the namespace's routines database (or its package
# mapping); its data global gets a hashed name, as DDL tables do by default ([SQL]
# DDLUseExtentSet=1, RACS_DDLUseExtentSet): nothing may guess it from the table name.
# INSERT INTO S.T: one row in the database that holds that global for the namespace.
function sql_model(stmt,    u, name, cls, g, vis, n, dir) {
    u = toupper(trim(stmt))
    gsub(/[ \t\n]+/, " ", u)
    name = trim(stmt)
    gsub(/[ \t\n]+/, " ", name)
    if (u ~ /^CREATE TABLE /) {
        name = substr(name, 14)
        sub(/[ (].*/, "", name)
        cls = name
        if (cls !~ /\./) cls = "SQLUser." cls
        g = "X" substr(sha(cls), 1, 4) "." substr(sha(cls), 5, 4) ".1"
        dir = class_dir(ns, cls)
        if (db_access(dir) != "") return db_access(dir)
        db_append(dir, "STANDIN-CLASS " cls " " g)
        return ""
    }
    if (u ~ /^INSERT INTO /) {
        name = substr(name, 13)
        sub(/[ (].*/, "", name)
        cls = table_class(ns, name)
        if (cls == "") return "Table '" name "' not found"
        n = ns_tables(ns, vis)
        dir = global_dir(ns, vis[cls])
        if (db_access(dir) != "") return db_access(dir)
        db_append(dir, "STANDIN-ROWS " vis[cls] " 1")
        return ""
    }
    return ""
}

# ---------------------------------------------------------------- class methods

# Properties passed by reference (.p) are read as p("Name") from the local variables.
function prop(arr, name) { return vars[arr "(\"" name "\")"] }

function byref(a) { a = trim(a); return (substr(a, 1, 1) == ".") ? substr(a, 2) : "" }

function config_call(cls, method, args,    a, k, name, p, n, v, parts, sec, key, gl, rt, dir) {
    k = split_top(args, a, ",")
    if (cls == "CONFIG.DATABASES") {
        name = toupper(eval_expr(a[1])); p = byref(a[2])
        if (method == "EXISTS") return cpf_line_exists("Databases", name)
        if (method == "CREATE") {
            if (cpf_line_exists("Databases", name)) return status_error("ERROR #5001: (stand-in) database " name " already exists")
            dir = prop(p, "Directory")
            if (dir == "") return status_error("ERROR #5001: (stand-in) Directory is required")
            cpf_set("Databases", name, with_slash(dir))
            return 1
        }
        if (method == "GET") {
            if (!cpf_line_exists("Databases", name)) return status_error("ERROR #5001: (stand-in) database " name " does not exist")
            vars[p "(\"Directory\")"] = db_dir(name)
            return 1
        }
        if (method == "MODIFY") {
            if (!cpf_line_exists("Databases", name)) return status_error("ERROR #5001: (stand-in) database " name " does not exist")
            if (prop(p, "Directory") != "") cpf_set("Databases", name, with_slash(prop(p, "Directory")))
            return 1
        }
        return 1
    }
    if (cls == "CONFIG.NAMESPACES") {
        name = toupper(eval_expr(a[1])); p = byref(a[2])
        if (method == "EXISTS") return cpf_line_exists("Namespaces", name)
        if (method == "GET") {
            if (!cpf_line_exists("Namespaces", name)) return status_error("ERROR #5001: (stand-in) namespace " name " does not exist")
            vars[p "(\"Globals\")"] = ns_default(name, "G")
            vars[p "(\"Routines\")"] = ns_default(name, "R")
            return 1
        }
        if (method == "CREATE" || method == "MODIFY") {
            if (method == "CREATE" && cpf_line_exists("Namespaces", name)) return status_error("ERROR #5001: (stand-in) namespace " name " already exists")
            if (method == "MODIFY" && !cpf_line_exists("Namespaces", name)) return status_error("ERROR #5001: (stand-in) namespace " name " does not exist")
            gl = toupper(prop(p, "Globals")); rt = toupper(prop(p, "Routines"))
            if (gl == "" && method == "MODIFY") gl = ns_default(name, "G")
            if (rt == "" && method == "MODIFY") rt = ns_default(name, "R")
            if (gl == "") return status_error("ERROR #5001: (stand-in) Globals is required")
            cpf_set("Namespaces", name, (rt == "" || rt == gl) ? gl : gl "," rt)
            return 1
        }
        if (method == "LOAD") return 1
        return 1
    }
    if (cls == "CONFIG.MAPGLOBALS" || cls == "CONFIG.MAPPACKAGES" || cls == "CONFIG.MAPROUTINES") {
        sec = "Map." toupper(eval_expr(a[1]))
        key = (cls == "CONFIG.MAPGLOBALS" ? "Global_" : cls == "CONFIG.MAPPACKAGES" ? "Package_" : "Routine_") eval_expr(a[2])
        p = byref(a[3])
        if (method == "EXISTS") return cpf_line_exists(sec, key)
        if (method == "CREATE") {
            if (cpf_line_exists(sec, key)) return status_error("ERROR #5001: (stand-in) " key " already exists in " sec)
            if (prop(p, "Database") == "") return status_error("ERROR #5001: (stand-in) Database is required")
            cpf_set(sec, key, toupper(prop(p, "Database")))
            return 1
        }
        if (method == "GET") {
            if (!cpf_line_exists(sec, key)) return status_error("ERROR #5001: (stand-in) " key " does not exist in " sec)
            vars[p "(\"Database\")"] = toupper(cpf_value(sec, key))
            return 1
        }
        return 1
    }
    return 1
}

# SYS.Database (class reference): the ID of a database object is its directory.
function sysdb_call(method, args,    a, k, dir, f, rc) {
    k = split_top(args, a, ",")
    dir = with_slash(eval_expr(a[1]))
    f = dat_file(dir)
    if (method == "CREATEDATABASE") {
        system("mkdir -p " shq(dir) " && touch " shq(f))
        return 1
    }
    if (method == "%OPENID") return file_exists(f) ? "\002DB:" dir : ""
    if (method == "%EXISTSID") return file_exists(f)
    if (method == "DISMOUNTDATABASE") {
        if (mount_write(dir, "dismounted", "") != 0) return status_error("ERROR (stand-in): cannot record " dir " as dismounted")
        return 1
    }
    if (method == "MOUNTDATABASE") {
        # IRIS can open only an IRIS.DAT that irisowner (UID 51773) owns (Data Integrity Guide,
        # "restore to a different system"; iris-facts.md "Databases").
        if (!file_exists(f)) return status_error("ERROR (stand-in): cannot mount " dir ": " f " does not exist")
        if (is_mounted(dir)) return status_error("ERROR #5001: (stand-in) AlreadyMounted: " dir " is already mounted")
        # The owner check and the new state in one process.
        rc = mount_write(dir, "mounted", f)
        if (rc == 5) return status_error("ERROR (stand-in): cannot open " f ": it is not owned by irisowner (UID 51773)")
        if (rc != 0) return status_error("ERROR (stand-in): cannot record " dir " as mounted")
        return 1
    }
    return 1
}

# ---------------------------------------------------------------- expressions

function eval_expr(e,    parts, k, i, r) {
    e = trim(e)
    k = split_top(e, parts, "_")
    r = ""
    for (i = 1; i <= k; i++) r = r eval_term(trim(parts[i]))
    return r
}

function eval_term(t,    u, a, k, v, name, member, cls, method, h, glo) {
    u = toupper(t)
    if (t == "") return ""
    if (t ~ /^".*"$/) {
        v = substr(t, 2, length(t) - 2)
        gsub(/""/, "\"", v)
        return v
    }
    if (t ~ /^[-+]?[0-9]+(\.[0-9]+)?$/) return t + 0
    if (substr(t, 1, 1) == "+") return eval_term(substr(t, 2)) + 0
    if (t ~ /^\(.*\)$/) return eval_expr(substr(t, 2, length(t) - 2))
    if (u == "$ZV" || u == "$ZVERSION") return zv
    if (u == "$ZE" || u == "$ZERROR") return zerror
    if (u == "$NAMESPACE" || u == "$ZNSPACE") return ns
    if (u == "$T" || u == "$TEST") return test
    if (u == "$$$OK") return 1
    if (match(u, /^\$\$\$ASSERT[A-Z]*\(/)) return ut_assert(t)
    if (match(u, /^\$\$\$ERROR\(/)) return ut_error(t)
    if (match(u, /^##CLASS\(%UNITTEST\.MANAGER\)\.DEBUGRUNTESTCASE\(/)) return ut_debug_run(call_args(t, RLENGTH))
    # %SYSTEM.Status.GetErrorText: the text of an error status ("" for OK).
    if (match(u, /^\$SYSTEM\.STATUS\.GETERRORTEXT\(/)) {
        v = eval_expr(call_args(t, RLENGTH))
        return is_error_status(v) ? substr(v, 3) : ""
    }
    # %Exception.SQL.CreateFromSQLCODE(code, message): an exception Throw recognises.
    if (match(u, /^##CLASS\(%EXCEPTION\.SQL\)\.CREATEFROMSQLCODE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return "\001" "0 (stand-in) SQLCODE " eval_expr(a[1]) ": " eval_expr(a[2])
    }
    if (match(u, /^\$(C|CHAR)\(/)) return sprintf("%c", eval_expr(call_args(t, RLENGTH)) + 0)
    if (match(u, /^\$(G|GET)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        name = trim(a[1])
        if (substr(name, 1, 1) == "^") { if (!gref(name)) return ""; stat_refs++; v = db_node(G_DIR, G_REF); return (v == "" && k >= 2) ? eval_expr(a[2]) : v }
        name = lkey(name)
        return (name in vars) ? vars[name] : (k >= 2 ? eval_expr(a[2]) : "")
    }
    if (match(u, /^\$(D|DATA)\(/)) {
        name = trim(call_args(t, RLENGTH))
        if (substr(name, 1, 1) == "^") { stat_refs++; return gref(name) ? db_defined(G_DIR, G_REF) : 0 }
        name = lkey(name)
        if (name in vars) return 1
        return (local_subs(name) > 0) ? 10 : 0
    }
    if (match(u, /^\$(O|ORDER)\(/)) return order_next(call_args(t, RLENGTH))
    if (match(u, /^\$(P|PIECE)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return piece(eval_expr(a[1]), eval_expr(a[2]), k >= 3 ? eval_expr(a[3]) + 0 : 1, k >= 4 ? eval_expr(a[4]) + 0 : (k >= 3 ? eval_expr(a[3]) + 0 : 1))
    }
    if (match(u, /^\$(L|LENGTH)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        if (k == 1) return length(eval_expr(a[1]))
        return pieces(eval_expr(a[1]), eval_expr(a[2]))
    }
    if (match(u, /^\$(E|EXTRACT)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        v = eval_expr(a[1])
        if (k == 1) return substr(v, 1, 1)
        if (k == 2) return substr(v, eval_expr(a[2]) + 0, 1)
        return substr(v, eval_expr(a[2]) + 0, eval_expr(a[3]) - eval_expr(a[2]) + 1)
    }
    if (match(u, /^\$REPLACE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return replace_all(eval_expr(a[1]), eval_expr(a[2]), eval_expr(a[3]))
    }
    if (match(u, /^\$(ZCVT|ZCONVERT)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        v = toupper(eval_expr(a[2]))
        # The JSON translation table (RCOS_translationtables): output mode escapes for a JSON
        # string; "/" stays as it is (an InterSystems developer on the community site).
        if (k >= 3 && v == "O" && toupper(eval_expr(a[3])) == "JSON") return json_escape(eval_expr(a[1]))
        return (v == "L") ? tolower(eval_expr(a[1])) : (v == "U") ? toupper(eval_expr(a[1])) : eval_expr(a[1])
    }
    if (match(u, /^\$SYSTEM\.SQL\.SCHEMA\.IMPORTDDL\(/)) {
        # No return value: used where a value is needed (Set x=...) it is a <COMMAND> error.
        if (call_ctx != "do") { ev_err = "<COMMAND>"; return "" }
        k = split_top(call_args(t, RLENGTH), a, ",")
        return import_ddl(eval_expr(a[1]), k >= 2 ? eval_expr(a[2]) : "")
    }
    if (match(u, /^\$SYSTEM\.OBJ\.LOADDIR\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return obj_load(eval_expr(a[1]), 1)
    }
    if (match(u, /^\$SYSTEM\.OBJ\.LOAD\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return obj_load(eval_expr(a[1]), 0)
    }
    if (match(u, /^\$SYSTEM\.UTIL\.MANAGERDIRECTORY\(\)$/)) return sysdir "/mgr/"
    # %Library.File (class reference): NormalizeDirectory(dir, base) is dir made absolute against
    # base, with a trailing separator; CreateDirectoryChain(dir) makes it and its parents.
    if (match(u, /^##CLASS\(%FILE\)\.NORMALIZEDIRECTORY\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        v = eval_expr(a[1])
        if (substr(v, 1, 1) != "/" && k >= 2) v = with_slash(eval_expr(a[2])) v
        return with_slash(v)
    }
    if (match(u, /^##CLASS\(%FILE\)\.CREATEDIRECTORYCHAIN\(/)) {
        v = eval_expr(call_args(t, RLENGTH))
        return (system("mkdir -p " shq(v)) == 0) ? 1 : 0
    }
    if (match(u, /^##CLASS\(%FILE\)\.(EXISTS|DIRECTORYEXISTS)\(/)) return file_exists(eval_expr(call_args(t, RLENGTH)))
    if (match(u, /^\$ISOBJECT\(/)) return (substr(eval_expr(call_args(t, RLENGTH)), 1, 1) == "\002") ? 1 : 0
    if (match(u, /^##CLASS\(%DICTIONARY\.(COMPILEDCLASS|CLASSDEFINITION)\)\.%EXISTSID\(/)) {
        name = eval_expr(call_args(t, RLENGTH))
        if (toupper(name) == "%IPM.MAIN") return ipm_here()
        if (toupper(name) == "%ZPM.PACKAGEMANAGER") return 0
        return class_visible(ns, name)
    }
    if (match(u, /^##CLASS\(%IPM\.MAIN\)\.SHELL\(/)) {
        if (!ipm_here()) { ev_err = "<CLASS DOES NOT EXIST> *%IPM.Main"; return "" }
        return ipm_command(eval_expr(call_args(t, RLENGTH)), "")
    }
    if (match(u, /^##CLASS\(%ZPM\.PACKAGEMANAGER\)\./)) { ev_err = "<CLASS DOES NOT EXIST> *%ZPM.PackageManager"; return "" }
    if (match(u, /^##CLASS\(%SQL\.STATEMENT\)\.%NEW\(/)) return new_obj("ST")
    if (match(u, /^##CLASS\(%SQL\.STATEMENT\)\.%EXECDIRECT\(/)) {
        # %ExecDirect(.statement, sql, args...): the args fill the ? parameters in order.
        k = split_top(call_args(t, RLENGTH), a, ",")
        delete SQL_P
        for (v = 3; v <= k; v++) SQL_P[v - 2] = eval_expr(a[v])
        return sql_run(eval_expr(a[2]))
    }
    if (match(u, /^##CLASS\(CONFIG\.(DATABASES|NAMESPACES|MAPGLOBALS|MAPPACKAGES|MAPROUTINES)\)\.[A-Z%]+\(/)) {
        cls = u; sub(/^##CLASS\(/, "", cls); sub(/\).*/, "", cls)
        method = substr(u, length(cls) + 11); sub(/\(.*/, "", method)
        return config_call(cls, method, call_args(t, RLENGTH))
    }
    # SYS.Stats.Global.Sample() / SYS.Stats.Routine.Sample(): an object whose properties are the
    # instance-wide counters (class reference, ref/2024.1/SYS/Stats/Global.cls and Routine.cls:
    # RefLocal "the count of all global accesses to a local database", RefUpdateLocal "... that
    # are Sets, Kills, or $Increments", JrnEntries "one for each database modification",
    # RtnCommands "the count of all routine commands executed"). Modelled: the global
    # references, updates and commands of every finished session (stats_total); the other
    # properties are 0. $SYSTEM.License.LUConsumed(): no license accounting here, 0.
    if (u ~ /^##CLASS\(SYS\.STATS\.GLOBAL\)\.SAMPLE\(\)$/) return stats_sample("GS")
    if (u ~ /^##CLASS\(SYS\.STATS\.ROUTINE\)\.SAMPLE\(\)$/) return stats_sample("RT")
    if (u ~ /^(##CLASS\(%SYSTEM\.LICENSE\)|\$SYSTEM\.LICENSE)\.LUCONSUMED\(\)$/) return 0
    if (match(u, /^##CLASS\(SYS\.DATABASE\)\.[A-Z%]+\(/)) {
        method = substr(u, 23); sub(/\(.*/, "", method)
        return sysdb_call(method, call_args(t, RLENGTH))
    }
    # Backup.General.ExternalFreeze(LogFile, Text, SwitchJournalFile, TimeOut, Hibernate, Verbose,
    # ExternalFreezeTimeOut): default 600 s; past it the system pauses and new processes cannot
    # log in until ExternalThaw() (Data Integrity Guide, External Backup; class reference).
    if (match(u, /^##CLASS\(BACKUP\.GENERAL\)\.EXTERNALFREEZE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        v = (k >= 7 && trim(a[7]) != "") ? eval_expr(a[7]) + 0 : 600
        if (v <= 0) v = 600
        system("echo \"$(date +%s) " v "\" > " shq(standin_dir "/frozen"))
        return 1
    }
    if (match(u, /^##CLASS\(BACKUP\.GENERAL\)\.EXTERNALTHAW\(/)) {
        if (!file_exists(standin_dir "/frozen")) return status_error("ERROR #5001: (stand-in) the system is not frozen")
        system("rm -f " shq(standin_dir "/frozen"))
        return 1
    }
    if (match(u, /^##CLASS\(BACKUP\.GENERAL\)\.ISWDSUSPENDED\(/)) return file_exists(standin_dir "/frozen")
    if (match(u, /^##CLASS\(SYS\.CONTAINER\)\.PREVENTJOURNALROLLOVERMESSAGE\(/))
        return sys_container_fail("PreventJournalRolloverMessage: the instance was not started with nostu")
    if (match(u, /^##CLASS\(%EXCEPTION\.STATUSEXCEPTION\)\.CREATEFROMSTATUS\(/)) {
        # An exception object, modelled as a value that Throw recognises (\001 + the status).
        return "\001" eval_expr(call_args(t, RLENGTH))
    }
    # $ZF(-100, flags, program, args...) runs an OS command as a child process (ObjectScript
    # reference, RCOS_fzf-100; "Running Programs or System Commands with $ZF(-100)", BGCL_syscall):
    # synchronously unless /ASYNC, through a shell only with /SHELL; returns the program's exit
    # code, -1 when it cannot be started (an OS error), 0 at once with /ASYNC. Without /STDOUT= or
    # /STDERR= (+= appends) the child uses the process's own descriptors. The child inherits the
    # process's environment. Not modelled: the %System_Callout:USE privilege it needs (the
    # stand-in's sessions run with %All) and the automatic quoting of arguments (/NOQUOTE).
    if (match(u, /^\$ZF\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        if (eval_expr(a[1]) + 0 != -100) { ev_err = "<FUNCTION>"; return "" }
        return zf_run(k, a)
    }
    if (match(u, /^\$SYSTEM\.UTIL\.GETENVIRON\(/)) return ENVIRON[eval_expr(call_args(t, RLENGTH))]
    if (match(u, /^\$SYSTEM\.SECURITY\.LOGIN\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        return login_ok(eval_expr(a[1]), eval_expr(a[2]))
    }
    if (match(u, /^(##CLASS\(%SYSTEM\.PROCESS\)|\$SYSTEM\.PROCESS)\.TERMINATE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        finish(k >= 2 ? eval_expr(a[2]) + 0 : 0)
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.UNEXPIREUSERPASSWORDS\(/)) {
        unexpire()
        return 1
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.CREATE\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        name = eval_expr(a[1])
        cur_user = name
        set_password(name, k >= 3 ? eval_expr(a[3]) : "")
        return 1
    }
    if (match(u, /^##CLASS\(SECURITY\.USERS\)\.(EXISTS|GET|OPENID)\(/)) {
        k = split_top(call_args(t, RLENGTH), a, ",")
        cur_user = eval_expr(a[1])
        return (cur_user in users) ? 1 : 0
    }
    if (substr(t, 1, 1) == "^") {
        if (!gref(t)) return ""
        v = db_node(G_DIR, G_REF)
        if (v == "" && !db_defined(G_DIR, G_REF)) { ev_err = "<UNDEFINED> " t; return "" }
        return v
    }
    # Members of objects: result sets, statements, databases (see obj_member); a caught exception.
    if (match(t, /^[A-Za-z%][A-Za-z0-9]*\./)) {
        name = substr(t, 1, RLENGTH - 1)
        member = substr(t, RLENGTH + 1)
        if ((name in vars) && substr(vars[name], 1, 1) == "\002") return obj_member(vars[name], member)
        if (name in errvars) return vars[name]
        # Another object's method (u.%Save()) succeeds with an OK %Status; a property is "".
        return (t ~ /\)$/) ? 1 : ""
    }
    if (is_lref(t)) { name = lkey(t); return (name in vars) ? vars[name] : "" }
    # Any other class or system method: succeeds and returns an OK %Status.
    if (u ~ /^(##CLASS\(|\$SYSTEM\.)/) return 1
    return ""
}

function piece(s, d, from, to,    n, parts, i, r) {
    if (d == "") return ""
    n = pieces(s, d)
    r = ""
    for (i = from; i <= to && i <= n; i++) r = r (i > from ? d : "") nth_piece(s, d, i)
    return r
}

function pieces(s, d,    n, p) {
    if (d == "") return 0
    n = 1
    while ((p = index(s, d)) > 0) { n++; s = substr(s, p + length(d)) }
    return n
}

function nth_piece(s, d, i,    p, k) {
    for (k = 1; k < i; k++) { p = index(s, d); if (p == 0) return ""; s = substr(s, p + length(d)) }
    p = index(s, d)
    return p ? substr(s, 1, p - 1) : s
}

function json_escape(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    gsub(/\t/, "\\t", s)
    gsub(/\n/, "\\n", s)
    gsub(/\r/, "\\r", s)
    return s
}

function replace_all(s, a, b,    r, p) {
    if (a == "") return s
    r = ""
    while ((p = index(s, a)) > 0) { r = r substr(s, 1, p - 1) b; s = substr(s, p + length(a)) }
    return r s
}

# One condition of If / a postconditional. Unknown conditions count as TRUE; status checks
# ($$$ISERR, $SYSTEM.Status.IsError) count as "no error" since every status is OK here.
function cond_one(c,    u, neg, r, a, k, op) {
    c = trim(c)
    neg = 0
    while (substr(c, 1, 1) == "'" && substr(c, 2, 1) != "=") { neg = !neg; c = substr(c, 2) }
    while (c ~ /^\(.*\)$/ && paren_wraps(c)) c = substr(c, 2, length(c) - 2)
    u = toupper(c)
    if (u ~ /^\$(ZE|ZERROR)=""$/) r = (zerror == "")
    else if (u ~ /^\$(ZE|ZERROR)'=""$/) r = (zerror != "")
    else if (match(u, /^\$SYSTEM\.SECURITY\.LOGIN\(/)) {
        k = split_top(call_args(c, RLENGTH), a, ",")
        r = login_ok(eval_expr(a[1]), eval_expr(a[2]))
    }
    else if (u ~ /^(\$\$\$ISERR|\$SYSTEM\.STATUS\.ISERROR)\(/) r = is_error_status(eval_expr(call_args(c, index(c, "("))))
    else if (u ~ /^(\$\$\$ISOK|\$SYSTEM\.STATUS\.ISOK)\(/) r = !is_error_status(eval_expr(call_args(c, index(c, "("))))
    else if (u ~ /^\$\$\$ASSERT[A-Z]*\(/) r = (eval_expr(c) + 0 != 0)
    else if ((op = top_op(c)) > 0) r = compare(c, op)
    else if (cmp_at(c) > 0) r = compare(c, cmp_at(c))
    else if (u ~ /^(\$(G|GET|D|DATA|O|ORDER|L|LENGTH|ISOBJECT)\(|##CLASS\(|\$SYSTEM\.)/) r = (eval_expr(c) + 0 != 0)
    else if (c ~ /^[-+]?[0-9]+(\.[0-9]+)?$/) r = (c + 0 != 0)
    else if (match(c, /^[A-Za-z%][A-Za-z0-9]*\./) && (substr(c, 1, RLENGTH - 1) in vars)) r = (eval_expr(c) + 0 != 0)
    else if (is_lref(c) && (lkey(c) in vars)) r = (vars[lkey(c)] + 0 != 0)
    else if (is_lref(c)) r = 0
    else r = 1
    return neg ? !r : r
}

# Whether the parentheses around c belong together (so "(a)=(b)" is not unwrapped).
function paren_wraps(c,    i, depth, instr, ch) {
    depth = 0; instr = 0
    for (i = 1; i <= length(c); i++) {
        ch = substr(c, i, 1)
        if (instr) { if (ch == "\"") instr = 0; continue }
        if (ch == "\"") instr = 1
        else if (ch == "(") depth++
        else if (ch == ")") { depth--; if (depth == 0 && i < length(c)) return 0 }
    }
    return 1
}

# Position of a top-level <, > or [ (outside strings and parentheses), 0 when none.
function top_op(s,    n, i, c, depth, instr) {
    n = length(s); depth = 0; instr = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (instr) { if (c == "\"") instr = 0; continue }
        if (c == "\"") instr = 1
        else if (c == "(") depth++
        else if (c == ")") depth--
        else if (depth == 0 && (c == "<" || c == ">" || c == "[")) return i
    }
    return 0
}

# Position of a top-level = or '= comparison in c (0 when none).
function cmp_at(c) { return top_eq(c) }

function compare(c, at,    op, lhs, rhs, neg, l, r) {
    op = substr(c, at, 1)
    lhs = substr(c, 1, at - 1)
    rhs = substr(c, at + 1)
    neg = 0
    if (substr(lhs, length(lhs), 1) == "'") { neg = 1; lhs = substr(lhs, 1, length(lhs) - 1) }
    l = eval_expr(lhs); r = eval_expr(rhs)
    if (op == "<") return neg ? !(l + 0 < r + 0) : (l + 0 < r + 0)
    if (op == ">") return neg ? !(l + 0 > r + 0) : (l + 0 > r + 0)
    if (op == "[") return neg ? !index(l, r) : (index(l, r) > 0)
    return neg ? (l != r) : (l == r)
}

# Comma-separated If conditions all have to hold.
function cond_true(c,    parts, k, i) {
    k = split_top(c, parts, ",")
    for (i = 1; i <= k; i++) if (!cond_one(parts[i])) return 0
    return 1
}

# ---------------------------------------------------------------- commands

function do_set(arg,    parts, k, i, eq, lhs, rhs, val, ul) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        eq = top_eq(parts[i])
        if (eq == 0) continue
        lhs = trim(substr(parts[i], 1, eq - 1))
        rhs = substr(parts[i], eq + 1)
        val = eval_expr(rhs)
        if (ev_err != "") return OK
        ul = toupper(lhs)
        if (ul == "$ZE" || ul == "$ZERROR") zerror = val
        else if (ul == "$NAMESPACE") ns = toupper(val)
        else if (ul ~ /\.PASSWORD(EXTERNAL)?$/ || ul ~ /\("PASSWORD(EXTERNAL)?"\)$/) { set_password(cur_user, val); vars[lkey(lhs)] = val }
        else if (substr(lhs, 1, 1) == "^") set_global(lhs, val)
        else if (is_lref(lhs)) { vars[lkey(lhs)] = val; delete errvars[lhs] }
    }
    return OK
}

function do_write(arg,    parts, k, i, j, p) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        p = trim(parts[i])
        if (p ~ /^[!#]+$/) {
            for (j = 1; j <= length(p); j++) if (substr(p, j, 1) == "!") newline()
        } else if (substr(p, 1, 1) == "?") {
            continue
        } else {
            out(eval_expr(p))
            if (ev_err != "") return OK
        }
    }
    return OK
}

function do_do(arg,    parts, k, i) {
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) {
        call_ctx = "do"
        eval_expr(parts[i])
        call_ctx = ""
        if (ev_err != "") return OK
    }
    return OK
}

function do_kill(arg,    parts, k, i) {
    if (trim(arg) == "") { for (i in vars) if (!(i in errvars)) delete vars[i]; return OK }
    k = split_top(arg, parts, ",")
    for (i = 1; i <= k; i++) kill_ref(parts[i])
    return OK
}

function block_inner(b) {
    b = trim(b)
    if (substr(b, 1, 1) == "{") b = substr(b, 2)
    if (substr(b, length(b), 1) == "}") b = substr(b, 1, length(b) - 1)
    return b
}

# A loop body ran: QUIT ends the loop, SKIP (a false line-form If) ends this pass, an error or
# Halt ends everything. Returns 1 to go on.
function loop_on(r) {
    LOOP_R = (r == ERR || r == HALT) ? r : OK
    return (r == OK || r == SKIP)
}

# For forms: "For {block}", "For  cmds" (the rest of the line), "For i=a:b:c {block}" or with
# the rest of the line; at most MAX_PASSES passes (a loop that never ends is a test bug).
function do_for(arg, rest,    eq, var, bounds, parts, k, from, step, to, i, body, passes) {
    LOOP_R = OK
    body = (substr(trim(arg), 1, 1) == "{") ? block_inner(arg) : rest
    if (trim(arg) == "" || substr(trim(arg), 1, 1) == "{") {
        for (passes = 0; passes < 100000; passes++) if (!loop_on(exec_stmts(body))) break
        return LOOP_R
    }
    eq = index(arg, "=")
    var = trim(substr(arg, 1, eq - 1))
    k = split(substr(arg, eq + 1), parts, ":")
    from = eval_expr(parts[1]) + 0
    step = (k >= 2) ? eval_expr(parts[2]) + 0 : 1
    to = (k >= 3) ? eval_expr(parts[3]) + 0 : from + 100000 * step
    # A block ends at its closing brace; what follows it on the line runs once, after the loop.
    if (substr(trim(rest), 1, 1) == "{") { body = trim(rest); body = block_inner(substr(body, 1, scan_arg(body, 1) - 1)) }
    else body = rest
    for (i = from; (step > 0 ? i <= to : i >= to); i += step) {
        vars[var] = i
        if (!loop_on(exec_stmts(body))) break
    }
    return LOOP_R
}

function do_while(cond, b,    passes) {
    LOOP_R = OK
    for (passes = 0; passes < 100000; passes++) {
        if (!cond_true(cond)) break
        if (ev_err != "") break
        if (!loop_on(exec_stmts(block_inner(b)))) break
    }
    return LOOP_R
}

# Execute one line (or the inside of a { } block). Returns OK, ERR, HALT, SKIP or QUIT.
function exec_stmts(s,    pos, n, c, st, cmd, haspc, pc, arg, r, ua, b, var) {
    pos = 1; n = length(s)
    while (pos <= n) {
        while (pos <= n && (substr(s, pos, 1) == " " || substr(s, pos, 1) == "\t")) pos++
        if (pos > n) break
        c = substr(s, pos, 1)
        if (c == ";" || substr(s, pos, 2) == "//") break
        st = pos
        while (pos <= n && substr(s, pos, 1) ~ /[A-Za-z$%]/) pos++
        cmd = toupper(substr(s, st, pos - st))
        if (cmd == "") { pos = scan_arg(s, pos + 1); continue }
        stat_commands++
        haspc = 0; pc = ""
        if (substr(s, pos, 1) == ":") {
            pos++; st = pos; pos = scan_arg(s, pos)
            pc = substr(s, st, pos - st); haspc = 1
        }
        arg = ""
        if (substr(s, pos, 1) == " ") {
            pos++
            if (substr(s, pos, 1) != " ") { st = pos; pos = scan_arg(s, pos); arg = substr(s, st, pos - st) }
        }
        # Catch var { ... }: the block follows the variable name.
        if (cmd == "CATCH" && substr(arg, 1, 1) != "{") {
            var = arg
            while (substr(s, pos, 1) == " ") pos++
            st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
        } else if (cmd == "CATCH") {
            var = ""; b = arg
        }

        if (cmd == "CATCH") {
            if (caught != "") {
                if (var != "") { vars[var] = caught; errvars[var] = 1 }
                caught = ""
                r = exec_stmts(block_inner(b))
                if (r == ERR || r == HALT) return r
            }
            continue
        }
        if (cmd == "TRY") {
            caught = ""
            try_depth++
            r = exec_stmts(block_inner(arg))
            try_depth--
            if (r == HALT) return r
            continue
        }
        if (haspc && !cond_true(pc)) continue
        ua = toupper(arg)
        if (index(arg, "1/0")) return raise("<DIVIDE>")
        if (index(ua, "##CLASS(SECURITY.USERS).UNEXPIREUSERPASSWORDS(")) unexpire()

        if (cmd == "F" || cmd == "FOR") {
            while (substr(s, pos, 1) == " ") pos++
            r = do_for(arg, substr(s, pos))
            if (r == ERR || r == HALT) return r
            if (substr(trim(arg), 1, 1) == "{" || substr(s, pos, 1) == "{") {
                if (substr(s, pos, 1) == "{") { st = pos; pos = scan_arg(s, pos) }
                continue
            }
            return OK
        }
        if (cmd == "WHILE") {
            while (substr(s, pos, 1) == " ") pos++
            st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
            r = do_while(arg, b)
            if (r == ERR || r == HALT) return r
            if (ev_err != "") { b = ev_err; ev_err = ""; return raise(b) }
            continue
        }
        if (cmd == "S" || cmd == "SET") r = do_set(arg)
        else if (cmd == "W" || cmd == "WRITE") r = do_write(arg)
        else if (cmd == "D" || cmd == "DO") r = do_do(arg)
        else if (cmd == "K" || cmd == "KILL") r = do_kill(arg)
        else if (cmd == "N" || cmd == "NEW") r = OK
        else if (cmd == "HANG") { system("sleep " (eval_expr(arg) + 0)); r = OK }
        else if (cmd == "I" || cmd == "IF") {
            test = cond_true(arg)
            if (ev_err != "") { b = ev_err; ev_err = ""; return raise(b) }
            while (substr(s, pos, 1) == " ") pos++
            if (substr(s, pos, 1) == "{") {
                st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
                if (test) { r = exec_stmts(block_inner(b)); if (r == ERR || r == HALT || r == QUIT) return r }
                else {
                    # An Else block right after a block-form If.
                    while (substr(s, pos, 1) == " ") pos++
                }
                if (toupper(substr(s, pos, 4)) == "ELSE") {
                    pos += 4
                    while (substr(s, pos, 1) == " ") pos++
                    st = pos; pos = scan_arg(s, pos); b = substr(s, st, pos - st)
                    if (!test) { r = exec_stmts(block_inner(b)); if (r == ERR || r == HALT || r == QUIT) return r }
                }
                continue
            }
            if (!test) return SKIP
            r = OK
        }
        else if (cmd == "E" || cmd == "ELSE") { if (test) return SKIP; r = OK }
        else if (cmd == "H" || cmd == "HALT") { if (cmd == "HALT" || arg == "") return HALT; system("sleep " (eval_expr(arg) + 0)); r = OK }
        else if (cmd == "Q" || cmd == "QUIT" || cmd == "RET" || cmd == "RETURN") {
            # The value a method returns (Quit/Return with an argument); "" without one.
            QUIT_VALUE = (arg != "") ? eval_expr(arg) : ""
            if (ev_err != "") { b = ev_err; ev_err = ""; return raise(b) }
            return QUIT
        }
        else if (cmd == "ZT" || cmd == "ZTRAP") {
            b = eval_expr(arg)
            return raise(b == "" ? "<ZTRAP>" : "<Z" b ">")
        }
        else if (cmd == "THROW") {
            b = eval_expr(arg)
            if (substr(b, 1, 1) == "\001") {
                b = substr(b, 2)
                sub(/^0 /, "", b)
                return raise(b ~ /^ERROR #/ ? b : "<THROW> " b)
            }
            return raise("<THROW>")
        }
        else if (cmd == "ZPM") {
            # The zpm command exists only where IPM is available (language extension of IPM).
            if (!ipm_here()) return raise("<SYNTAX>")
            ipm_shell(eval_expr(arg))
            r = OK
        }
        else if (cmd == "ZN" || cmd == "ZNSPACE") { ns = toupper(eval_expr(arg)); r = OK }
        else r = OK
        if (ev_err != "") { b = ev_err; ev_err = ""; return raise(b) }
        if (r != OK) return r
    }
    return OK
}

function zf_run(k, a,    raw, flags, program, cmd, i) {
    raw = eval_expr(a[2])
    flags = toupper(raw)
    program = eval_expr(a[3])
    cmd = ""
    for (i = 4; i <= k; i++) cmd = cmd " " shq(eval_expr(a[i]))
    if (index(flags, "/SHELL")) cmd = "sh -c " shq(program cmd)
    else if (system("command -v " shq(program) " >/dev/null 2>&1") != 0) return -1
    else cmd = shq(program) cmd
    cmd = cmd zf_redirect(raw, "STDOUT", ">") zf_redirect(raw, "STDERR", "2>") zf_redirect(raw, "STDIN", "<")
    if (index(flags, "/ASYNC")) { system("(" cmd ") >/dev/null 2>&1 &"); return 0 }
    fflush()
    return system(cmd)
}

# The shell redirection of one $ZF(-100) I/O keyword (/STDOUT=path, /STDOUT+=path; the path ends
# at a blank), "" when the flags have none.
function zf_redirect(raw, key, op,    p, rest) {
    p = index(toupper(raw), "/" key)
    if (!p) return ""
    rest = substr(raw, p + length(key) + 1)
    if (substr(rest, 1, 2) == "+=" && op != "<") { op = op ">"; rest = substr(rest, 3) }
    else if (substr(rest, 1, 1) == "=") rest = substr(rest, 2)
    else return ""
    sub(/ .*$/, "", rest)
    return " " op " " shq(rest)
}
