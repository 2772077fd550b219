# shellcheck shell=bash
# shellcheck disable=SC2034 # the U_*, ENV_* and ARGV* variables are this library's output to its callers
# skiff EC2 simulator: reading systemd service units, shared by the systemctl stand-in and unit-run.
# Sourced, not run. Follows systemd.syntax(7), systemd.unit(5), systemd.service(5), systemd.exec(5).

UNIT_DIRS=(/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system)
UNITS_STATE=/run/skiff-sim/units
# What systemd gives every system service (systemd.exec(5), "Environment variables in spawned processes").
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
# Added by the simulator (AWS_ENDPOINT_URL, test settings); read after the unit's own settings, so it wins.
SIM_UNIT_ENV=/run/skiff-sim/unit.env

unit_name() { # NAME → NAME.service when it has no suffix, as systemctl does
  case $1 in
    *.*) echo "$1" ;;
    *) echo "$1.service" ;;
  esac
}

unit_path() { # UNIT → its file, first in the search path
  local d
  for d in "${UNIT_DIRS[@]}"; do
    if [ -f "$d/$1" ]; then
      echo "$d/$1"
      return 0
    fi
  done
  return 1
}

seconds() { # systemd time span → seconds with decimals: "5", "5s", "500ms", "1min 30s", "infinity"
  [ "$1" = infinity ] && {
    echo 31536000
    return
  }
  echo "$1" | awk '{
    s = 0; rest = $0
    while (match(rest, /[0-9.]+[ \t]*[a-z]*/)) {
      part = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
      match(part, /^[0-9.]+/); n = substr(part, 1, RLENGTH); u = substr(part, RLENGTH + 1); gsub(/[ \t]/, "", u)
      if (u == "" || u == "s" || u == "sec" || u == "second" || u == "seconds") m = 1
      else if (u == "ms" || u == "msec") m = 0.001
      else if (u == "us" || u == "usec") m = 0.000001
      else if (u == "m" || u == "min" || u == "minute" || u == "minutes") m = 60
      else if (u == "h" || u == "hr" || u == "hour" || u == "hours") m = 3600
      else m = 1
      s += n * m
    }
    printf "%.3f\n", s
  }'
}

# split_words LINE: systemd's word splitting (quotes and backslashes) into the array WORDS.
split_words() {
  local s=$1 w='' q='' c i inword=0
  WORDS=()
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [ -n "$q" ]; then
      if [ "$c" = "$q" ]; then
        q=''
      elif [ "$c" = "\\" ] && [ "$q" = '"' ]; then
        i=$((i + 1))
        w+=${s:i:1}
      else
        w+=$c
      fi
    elif [ "$c" = '"' ] || [ "$c" = "'" ]; then
      q=$c
      inword=1
    elif [ "$c" = "\\" ]; then
      i=$((i + 1))
      w+=${s:i:1}
      inword=1
    elif [ "$c" = ' ' ] || [ "$c" = $'\t' ]; then
      if [ "$inword" = 1 ]; then WORDS+=("$w"); fi
      w=''
      inword=0
    else
      w+=$c
      inword=1
    fi
  done
  if [ "$inword" = 1 ]; then WORDS+=("$w"); fi
}

# parse_unit FILE: the settings this simulator honours, into U_* variables.
parse_unit() {
  U_DESCRIPTION='' U_TYPE=simple U_RESTART=no U_RESTART_SEC=0.100 U_TIMEOUT_STOP=90 U_KILL_SIGNAL=TERM
  U_KILL_MODE=control-group U_WORKDIR=/ U_USER='' U_UMASK=0022 U_REMAIN=no U_START_LIMIT_BURST=5 U_START_LIMIT_INTERVAL=10
  U_EXEC_START=() U_EXEC_START_PRE=() U_ENV=() U_ENV_FILES=() U_WANTED_BY=() U_IGNORED=()
  local section='' line key value cont=''
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line == *\\ ]]; then # a trailing backslash continues the line
      cont+="${line%\\} "
      continue
    fi
    line="$cont$line"
    cont=''
    line="${line#"${line%%[![:space:]]*}"}"
    case $line in
      '' | '#'* | ';'*) continue ;;
      '['*']')
        section=${line:1:${#line}-2}
        continue
        ;;
    esac
    key=${line%%=*}
    value=${line#*=}
    key="${key%"${key##*[![:space:]]}"}"
    value="${value#"${value%%[![:space:]]*}"}"
    # An empty assignment resets a list setting (systemd.unit(5)).
    case "$section/$key" in
      Unit/Description) U_DESCRIPTION=$value ;;
      Unit/StartLimitIntervalSec) U_START_LIMIT_INTERVAL=$(seconds "$value") ;;
      Unit/StartLimitBurst) U_START_LIMIT_BURST=$value ;;
      Service/Type) U_TYPE=$value ;;
      Service/ExecStart) if [ -z "$value" ]; then U_EXEC_START=(); else U_EXEC_START+=("$value"); fi ;;
      Service/ExecStartPre) if [ -z "$value" ]; then U_EXEC_START_PRE=(); else U_EXEC_START_PRE+=("$value"); fi ;;
      Service/Environment) if [ -z "$value" ]; then U_ENV=(); else U_ENV+=("$value"); fi ;;
      Service/EnvironmentFile) if [ -z "$value" ]; then U_ENV_FILES=(); else U_ENV_FILES+=("$value"); fi ;;
      Service/Restart) U_RESTART=$value ;;
      Service/RestartSec) U_RESTART_SEC=$(seconds "$value") ;;
      Service/TimeoutStopSec | Service/TimeoutSec) U_TIMEOUT_STOP=$(seconds "$value") ;;
      Service/KillSignal) U_KILL_SIGNAL=${value#SIG} ;;
      Service/KillMode) U_KILL_MODE=$value ;;
      Service/WorkingDirectory) U_WORKDIR=${value#-} ;;
      Service/User) U_USER=$value ;;
      Service/UMask) U_UMASK=$value ;;
      Service/RemainAfterExit) U_REMAIN=$value ;;
      Install/WantedBy | Install/RequiredBy)
        split_words "$value"
        U_WANTED_BY+=("${WORDS[@]}")
        ;;
      Unit/* | Install/* | Service/Description) ;;
      *) U_IGNORED+=("$key") ;;
    esac
  done <"$1"
}

# load_env_file FILE: systemd's EnvironmentFile= format into UNIT_ENV: KEY=VALUE lines, '#' and ';' comments,
# optional single or double quotes (backslash escapes inside double quotes and unquoted), whitespace trimmed.
load_env_file() {
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case $line in '' | '#'* | ';'*) continue ;; esac
    [[ $line == *=* ]] || continue
    key=${line%%=*}
    key="${key%"${key##*[![:space:]]}"}"
    [[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    value=${line#*=}
    value="${value#"${value%%[![:space:]]*}"}"
    case $value in
      \'*\') value=${value:1:${#value}-2} ;;
      \"*\")
        split_words "$value"
        value=${WORDS[0]-}
        ;;
      *)
        value="${value%"${value##*[![:space:]]}"}"
        value=${value//\\/}
        ;;
    esac
    UNIT_ENV[$key]=$value
  done <"$1"
}

# build_env: the unit's environment, in systemd's order: defaults, Environment=, then EnvironmentFile= (which
# overrides Environment=), then the simulator's additions. Leaves "KEY=VALUE" words in ENV_ARGS; on a missing
# EnvironmentFile= (without the "-" prefix) returns 1 with the reason in ENV_ERROR.
build_env() {
  declare -gA UNIT_ENV=([PATH]=$DEFAULT_PATH [LANG]=C.UTF-8)
  local e f optional w
  for e in "${U_ENV[@]}"; do
    split_words "$e"
    for w in "${WORDS[@]}"; do
      [[ $w == *=* ]] && UNIT_ENV[${w%%=*}]=${w#*=}
    done
  done
  for f in "${U_ENV_FILES[@]}"; do
    optional=0
    if [[ $f == -* ]]; then
      optional=1
      f=${f#-}
    fi
    if [ -r "$f" ]; then
      load_env_file "$f"
    elif [ "$optional" = 0 ]; then
      ENV_ERROR="Failed to load environment files: $f: No such file or directory"
      return 1
    fi
  done
  if [ -r "$SIM_UNIT_ENV" ]; then load_env_file "$SIM_UNIT_ENV"; fi
  ENV_ARGS=()
  for e in "${!UNIT_ENV[@]}"; do ENV_ARGS+=("$e=${UNIT_ENV[$e]}"); done
}

# command_argv LINE: an Exec*= line into ARGV (prefixes stripped; "-" sets ARGV_IGNORE_FAILURE=1), with
# $NAME (split at whitespace) and ${NAME} (one word) replaced from UNIT_ENV, as systemd.service(5) describes.
command_argv() {
  local line=$1 w name value re='\$\{([A-Za-z_][A-Za-z0-9_]*)\}'
  ARGV_IGNORE_FAILURE=0
  while [[ $line =~ ^[-@:+!] ]]; do
    [ "${line:0:1}" = - ] && ARGV_IGNORE_FAILURE=1
    line=${line:1}
  done
  split_words "$line"
  ARGV=()
  for w in "${WORDS[@]}"; do
    if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
      name=${BASH_REMATCH[1]}
      read -ra value <<<"${UNIT_ENV[$name]-}"
      ARGV+=("${value[@]}")
      continue
    fi
    while [[ $w =~ $re ]]; do
      name=${BASH_REMATCH[1]}
      w=${w//"\${$name}"/"${UNIT_ENV[$name]-}"}
    done
    ARGV+=("$w")
  done
}

unit_state() { # UNIT → active | activating | deactivating | inactive | failed
  cat "$UNITS_STATE/$1/state" 2>/dev/null || echo inactive
}

journal_of() { echo "/var/log/journal/$1.log"; }
