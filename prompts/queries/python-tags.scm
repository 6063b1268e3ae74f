; Python definitions and references for codeslm's workspace index.
; Convention: @name is the identifier; @definition.<kind> / @reference.<kind> is the whole node.
; A function whose enclosing scope is a class is reported as a method by the extractor.

(class_definition
  name: (identifier) @name) @definition.class

(function_definition
  name: (identifier) @name) @definition.function

(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant))

(call
  function: (identifier) @name) @reference.call

(call
  function: (attribute
    attribute: (identifier) @name)) @reference.call

(attribute
  attribute: (identifier) @name) @reference.attribute

(class_definition
  superclasses: (argument_list
    (identifier) @name)) @reference.class

(decorator
  (identifier) @name) @reference.call

(type
  (identifier) @name) @reference.type

(import_from_statement
  name: (dotted_name
    (identifier) @name)) @reference.import

(import_from_statement
  name: (aliased_import
    name: (dotted_name
      (identifier) @name))) @reference.import
