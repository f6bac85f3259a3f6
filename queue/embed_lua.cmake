# Turns every queue/lua/NAME.lua into `const char lua_NAME[]` in one generated C file, with
# queue/lua/prelude.lua (the helpers the scripts share) prepended, and computes each script's
# EVALSHA digest here, at build time, so the programs never hash a script at run time.
# A line "--#include LIB" is replaced by the text of queue/lua/LIB.lua: a library that only
# some scripts need (catalog_lib: the catalog write shared by complete.lua and
# catalog_load.lua); libraries (prelude, *_lib) are not scripts of their own.
#
# A script gets only the prelude definitions it uses. Redis runs a script's top level on every
# call, so each definition it carries is a closure made (and later collected) per call: the
# whole prelude cost srclimit.lua and enqueue.lua more than their own work (bench/scripts
# --instructions). The prelude's units are separated by blank lines (a comment, then one
# `local function NAME(` or `local NAME =`); a unit is kept when its name appears in the script
# or in a unit kept, and kept units stay in prelude order, so a definition still comes before
# its users. The tests and benches read these texts from the build (catalog_bulk.embedded).
cmake_minimum_required(VERSION 3.18)
file(GLOB scripts ${DIR}/*.lua)
list(SORT scripts)
file(READ ${DIR}/prelude.lua prelude_text)

# The prelude as a list of units; ';', '[' and ']' are escaped so that CMake's list splitting
# sees only the separators put here.
string(REPLACE ";" "@SEMI@" units "${prelude_text}")
string(REPLACE "[" "@LB@" units "${units}")
string(REPLACE "]" "@RB@" units "${units}")
string(REPLACE "\n\n" ";" units "${units}")
set(unit_names "")
foreach(u IN LISTS units)
  if(u MATCHES "(^|\n)local (function )?([A-Za-z_][A-Za-z0-9_]*)")
    list(APPEND unit_names "${CMAKE_MATCH_3}")
  else()
    list(APPEND unit_names "-") # no definition (the file's own comment): always kept
  endif()
endforeach()

# prelude_for(body out): the prelude units body uses, directly or through other units.
function(prelude_for body out)
  set(need "\n${body}\n")
  list(LENGTH units n)
  math(EXPR last "${n} - 1")
  set(kept "")
  set(changed 1)
  while(changed)
    set(changed 0)
    foreach(i RANGE ${last})
      list(GET unit_names ${i} name)
      list(FIND kept ${i} found)
      if(found EQUAL -1 AND NOT name STREQUAL "-" AND
         need MATCHES "[^A-Za-z0-9_.]${name}[^A-Za-z0-9_]")
        list(APPEND kept ${i})
        list(GET units ${i} u)
        string(APPEND need "\n${u}\n")
        set(changed 1)
      endif()
    endforeach()
  endwhile()
  set(text "")
  foreach(i RANGE ${last})
    list(GET unit_names ${i} name)
    list(FIND kept ${i} found)
    if(name STREQUAL "-" OR NOT found EQUAL -1)
      list(GET units ${i} u)
      string(APPEND text "${u}\n\n")
    endif()
  endforeach()
  string(REPLACE "@SEMI@" ";" text "${text}")
  string(REPLACE "@LB@" "[" text "${text}")
  string(REPLACE "@RB@" "]" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
set(out "/* generated from queue/lua by embed_lua.cmake; do not edit */\n#include <stddef.h>\n")
set(lookup "")
foreach(s ${scripts})
  get_filename_component(name ${s} NAME_WE)
  if(NOT name STREQUAL "prelude" AND NOT name MATCHES "_lib$")
    file(READ ${s} body)
    string(REGEX MATCHALL "--#include [a-z_]+" incs "${body}")
    foreach(inc ${incs})
      string(REPLACE "--#include " "" lib "${inc}")
      file(READ ${DIR}/${lib}.lua libtext)
      string(REPLACE "${inc}" "${libtext}" body "${body}")
    endforeach()
    prelude_for("${body}" used)
    set(text "${used}${body}")
    string(SHA1 sha "${text}")
    string(HEX "${text}" hex)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(APPEND out "const char lua_${name}[] = {${hex}0x00};\n")
    string(APPEND out "static const char sha_${name}[] = \"${sha}\";\n")
    string(APPEND lookup "    if (script == lua_${name})\n        return sha_${name};\n")
  endif()
endforeach()
string(APPEND out "const char *lua_sha(const char *script);\n")
string(APPEND out "const char *lua_sha(const char *script)\n{\n${lookup}    return NULL;\n}\n")
file(WRITE ${OUT} "${out}")
