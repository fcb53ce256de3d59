namespace c.uniq;
using { c.uniq as db } from './model';
entity Regions { key ID : Integer; name : String(50); }
@assert.unique: { email: [email], nameInRegion: [name, region], login: [login] }
entity Users { key ID : Integer; email : String(200); name : String(100); login : String(50); region : Association to Regions; }
service S { entity Users as projection on db.Users; }
