# /usr/local/lib/calvin/config.sh — helpers for start scripts (POSIX sh).
# Source it after calvin-entrypoint has resolved the CALVIN_* variables:
#     . /usr/local/lib/calvin/config.sh
# Conventions for the values of configuration keys:
#   integer  decimal digits
#   boolean  true/false, yes/no, on/off, 1/0 (any case)
#   list     items separated by commas and/or white space
#   url      scheme://host[:port][/path]
# Every helper fails (exit 78) with a message naming the key.

: "${CALVIN_PROG:=${0##*/}}"

calvin_fail() {
    printf '%s: error: %s\n' "$CALVIN_PROG" "$*" >&2
    exit 78
}

# calvin_get KEY -> the value of CALVIN_KEY (must be set)
calvin_get() {
    eval "_calvin_isset=\${CALVIN_$1+x}"
    [ -n "$_calvin_isset" ] || calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) is not set"
    eval "printf '%s' \"\${CALVIN_$1}\""
}

calvin_lower() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }

# calvin_nonempty KEY -> value, failing when empty
calvin_nonempty() {
    _calvin_v=$(calvin_get "$1") || exit $?
    [ -n "$_calvin_v" ] || calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) is empty"
    printf '%s' "$_calvin_v"
}

# calvin_int KEY [MIN MAX] -> value, failing unless a decimal integer in range
calvin_int() {
    _calvin_v=$(calvin_get "$1") || exit $?
    case $_calvin_v in
        '' | *[!0-9]*) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) must be an integer, got '$_calvin_v'" ;;
    esac
    _calvin_v=$(printf '%s' "$_calvin_v" | sed 's/^0*\(.\)/\1/')
    if [ "$#" -ge 3 ]; then
        if [ "${#_calvin_v}" -gt 9 ] || [ "$_calvin_v" -lt "$2" ] || [ "$_calvin_v" -gt "$3" ]; then
            calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) must be between $2 and $3, got '$_calvin_v'"
        fi
    fi
    printf '%s' "$_calvin_v"
}

# calvin_bool KEY -> true|false
calvin_bool() {
    _calvin_v=$(calvin_get "$1") || exit $?
    case $(calvin_lower "$_calvin_v") in
        true | yes | on | 1) printf true ;;
        false | no | off | 0) printf false ;;
        *) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) must be a boolean (true/false), got '$_calvin_v'" ;;
    esac
}

# calvin_list KEY -> the items, one a line (commas and white space separate)
calvin_list() {
    _calvin_v=$(calvin_get "$1") || exit $?
    printf '%s\n' "$_calvin_v" | tr ',\t\r' '\n\n\n' | tr ' ' '\n' | sed '/^$/d'
}

# calvin_url KEY [SCHEMES] -> sets CALVIN_URL_SCHEME, CALVIN_URL_HOST,
# CALVIN_URL_PORT (empty when absent) and CALVIN_URL_PATH (may be empty).
# SCHEMES: a space-separated list of accepted schemes (default: http https).
# Hosts may be names, IPv4 addresses or [IPv6] addresses.
calvin_url() {
    _calvin_v=$(calvin_nonempty "$1") || exit $?
    _calvin_ok=${2:-http https}
    case $_calvin_v in
        *://*) ;;
        *) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1) must be a URL such as ${_calvin_ok%% *}://host:port, got '$_calvin_v'" ;;
    esac
    CALVIN_URL_SCHEME=$(calvin_lower "${_calvin_v%%://*}")
    case " $_calvin_ok " in
        *" $CALVIN_URL_SCHEME "*) ;;
        *) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1): scheme '$CALVIN_URL_SCHEME' is not one of: $_calvin_ok" ;;
    esac
    _calvin_rest=${_calvin_v#*://}
    _calvin_auth=${_calvin_rest%%/*}
    case $_calvin_rest in
        */*) CALVIN_URL_PATH=/${_calvin_rest#*/} ;;
        *) CALVIN_URL_PATH= ;;
    esac
    case $_calvin_auth in
        *@*) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1): credentials in the URL are not supported" ;;
    esac
    case $_calvin_auth in
        \[*\]:*) CALVIN_URL_HOST=${_calvin_auth%%]*}]; CALVIN_URL_PORT=${_calvin_auth##*]:} ;;
        \[*\]) CALVIN_URL_HOST=$_calvin_auth; CALVIN_URL_PORT= ;;
        *:*) CALVIN_URL_HOST=${_calvin_auth%%:*}; CALVIN_URL_PORT=${_calvin_auth#*:} ;;
        *) CALVIN_URL_HOST=$_calvin_auth; CALVIN_URL_PORT= ;;
    esac
    case $CALVIN_URL_HOST in
        '' | *[!A-Za-z0-9.:_\[\]-]*) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1): bad host in '$_calvin_v'" ;;
    esac
    case $CALVIN_URL_PORT in
        *[!0-9]*) calvin_fail "configuration key $(calvin_lower "$1") (CALVIN_$1): bad port in '$_calvin_v'" ;;
    esac
}
