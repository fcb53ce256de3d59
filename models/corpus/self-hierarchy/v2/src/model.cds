namespace c.tree;
using { c.tree as db } from './model';
entity Nodes { key ID : Integer; name : String(50); level : Integer; parent : Association to Nodes; children : Composition of many Nodes on children.parent = $self; }
service S { entity Nodes as projection on db.Nodes; entity Roots as projection on db.Nodes where parent.ID is null; }
