namespace c.tree;
using { c.tree as db } from './model';
entity Nodes { key ID : Integer; name : String(50); parent : Association to Nodes; children : Composition of many Nodes on children.parent = $self; }
service S { entity Nodes as projection on db.Nodes; }
