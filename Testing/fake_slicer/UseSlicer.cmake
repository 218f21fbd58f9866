# Stand-in for Slicer's use file (see SlicerConfig.cmake): checks the extension metadata is set.
foreach(key HOMEPAGE CATEGORY CONTRIBUTORS DESCRIPTION ICONURL SCREENSHOTURLS DEPENDS)
  if(NOT DEFINED EXTENSION_${key})
    message(FATAL_ERROR "EXTENSION_${key} must be set before find_package(Slicer)")
  endif()
endforeach()
