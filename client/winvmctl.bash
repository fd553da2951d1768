# bash completion for winvmctl(1)                          -*- shell-script -*-
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Self-contained (no bash-completion helpers needed). VM names come from the
# daemon: the first column of `winvmctl list` (names never contain spaces).

_winvmctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="list status start stop reboot suspend resume pin autostart
                    render check profile edit set create delete import reload
                    shutdown-all monitor host version"
    local vm_commands=" status start stop reboot suspend resume pin autostart render check "
    vm_commands+=" profile edit set delete "
    local cmd="" nargs=0 i words=""

    # the command and how many arguments follow it, options skipped
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --timeout | -t | --template | --memory | --vcpus | --disk | --iso | --name | -n)
                ((i++)) ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; else ((nargs++)); fi ;;
        esac
    done

    COMPREPLY=()
    case $prev in
        --timeout | -t | --memory | --vcpus | --name | -n) return ;; # free text
        --template)
            mapfile -t COMPREPLY < <(compgen -W "windows11 windows10 minimal" -- "$cur")
            return
            ;;
        --disk | --iso)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        words="--json --help"
        case $cmd in
            start) words+=" --wait --timeout" ;;
            stop) words+=" --timeout --force" ;;
            shutdown-all) words+=" --timeout" ;;
            create) words+=" --template --memory --vcpus --disk --iso" ;;
            delete) words+=" --undefine" ;;
            import) words+=" --name" ;;
        esac
    elif [[ -z $cmd ]]; then
        words=$commands
    elif [[ $vm_commands == *" $cmd "* && $nargs -eq 0 ]]; then
        words=$("${COMP_WORDS[0]}" list 2>/dev/null | awk 'NR > 1 { print $1 }')
    elif [[ $cmd == pin && $nargs -eq 1 ]]; then
        words="vcpu iothread emulator"
    elif [[ $cmd == autostart && $nargs -eq 1 ]]; then
        words="on off"
    elif [[ $cmd == set && $nargs -ge 1 ]]; then
        compopt -o nospace 2>/dev/null
        words="template= memory= vcpus= iothreads= autostart= autostart-order= autostart-delay=
               on-host-shutdown= on-host-sleep= shutdown-timeout= pin= emulator-pin= hugepages= disk= iso="
    elif [[ $cmd == import && $nargs -eq 0 ]]; then
        mapfile -t COMPREPLY < <(compgen -f -X '!*.xml' -- "$cur")
        return
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _winvmctl winvmctl
