namespace c.excl;
using { cuid, managed } from '@sap/cds/common';
entity Users : cuid, managed { name : String(100); password : String(100); email : String(200); phone : String(30); }
service S { entity PublicUsers as projection on Users excluding { password, createdBy, modifiedBy }; entity Emails as projection on Users { ID, email as address }; }
